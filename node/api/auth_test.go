package api

import (
	"fmt"
	"sync"
	"testing"

	"github.com/authzd/authzd/authz"
)

// TestCredCache: a verified password is answered from the cache, a wrong one
// never is, a changed hash is verified again, and the pooled HMAC state is
// safe to share between concurrent requests.
func TestCredCache(t *testing.T) {
	hash := func(pw string) string {
		h, err := authz.HashPassword(pw, 4)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	c := newCredCache(100)
	h1 := hash("secret-1")
	if !c.verify("ann", "secret-1", h1) || c.misses.Load() != 1 {
		t.Fatalf("first verify: misses = %d", c.misses.Load())
	}
	if !c.verify("ann", "secret-1", h1) || c.hits.Load() != 1 {
		t.Fatalf("second verify was not a hit: hits = %d", c.hits.Load())
	}
	if c.verify("ann", "secret-2", h1) || c.verify("ann", "secret-1\x00", h1) {
		t.Fatal("a wrong password was accepted")
	}
	h2 := hash("secret-2")
	if c.verify("ann", "secret-1", h2) || !c.verify("ann", "secret-2", h2) {
		t.Fatal("after a password change the old password still works, or the new one does not")
	}

	var wg sync.WaitGroup
	hashes := make([]string, 4)
	for i := range hashes {
		hashes[i] = hash(fmt.Sprintf("pw-%d", i))
	}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 200 {
				u := (g + k) % len(hashes)
				user, pw := fmt.Sprintf("user-%d", u), fmt.Sprintf("pw-%d", u)
				if !c.verify(user, pw, hashes[u]) {
					t.Errorf("%s: right password refused", user)
					return
				}
				if c.verify(user, pw+"x", hashes[u]) {
					t.Errorf("%s: wrong password accepted", user)
					return
				}
			}
		}()
	}
	wg.Wait()
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { c.mac("user-1", "pw-1") }); n > 0 {
		t.Errorf("mac costs %v allocations", n)
	}
}
