package authz

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestKeyTable checks the table against a Go map over keys of every length
// class: empty, short, exactly 16 bytes, long with a shared 16-byte prefix,
// keys that differ only by trailing NUL bytes.
func TestKeyTable(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	m := map[string]*grant{}
	var keys []string
	add := func(k string) {
		if _, ok := m[k]; !ok {
			m[k] = &grant{}
			keys = append(keys, k)
		}
	}
	for _, k := range []string{"", "a", "a\x00", "team96-readers", "0123456789abcdef", "0123456789abcdefX", "0123456789abcdefY", strings.Repeat("x", 40)} {
		add(k)
	}
	const word = "abcdefghijklmnopqrstuvwxyz0123"
	for i := range len(word) + 1 {
		add(word[:i])
		add(word[:i] + "\x00")
	}
	for range 3000 {
		add(fmt.Sprintf("%s%d", strings.Repeat("k", r.IntN(24)), r.IntN(5000)))
	}
	tab := keyTableOf(m)
	for _, k := range keys {
		if got := tab.get(k); got != m[k] {
			t.Fatalf("get(%q) = %p, want %p", k, got, m[k])
		}
	}
	for i := range len(word) {
		if got := tab.get(word[1 : i+1]); got != m[word[1:i+1]] {
			t.Fatalf("get(%q) = %p, want %p", word[1:i+1], got, m[word[1:i+1]])
		}
	}
	for _, k := range []string{"b", "a\x00\x00", "team96-reader", "0123456789abcdefZ", "0123456789abcde", strings.Repeat("x", 41), "k"} {
		if got := tab.get(k); got != m[k] {
			t.Fatalf("get(%q) = %p, want %p (absent)", k, got, m[k])
		}
	}
	checkKeyCtrl(t, tab)
	if empty := keyTableOf(nil); empty.get("x") != nil {
		t.Fatal("empty table found a key")
	}
}

// TestKeyTableWith applies random sets and deletes through with (one-page
// tables, so probe runs wrap around, then growth past a page) and checks every key and
// the count after each step, and that the previous table is unchanged.
func TestKeyTableWith(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	for run := range 12 {
		m := map[string]*grant{}
		tab := keyTableOf(m)
		universe := make([]string, 700)
		for i := range universe {
			universe[i] = fmt.Sprintf("%s%d", strings.Repeat("u", r.IntN(20)), i)
		}
		for step := range 120 {
			changes := map[string]*grant{}
			for range 1 + r.IntN(12) {
				k := universe[r.IntN(len(universe))]
				if r.IntN(3) == 0 {
					changes[k] = nil
				} else {
					changes[k] = &grant{}
				}
			}
			next := maps.Clone(m)
			for k, g := range changes {
				if g == nil {
					delete(next, k)
				} else {
					next[k] = g
				}
			}
			prevTab, prevMap := tab, m
			tab, m = tab.with(changes), next
			if tab.n != len(m) {
				t.Fatalf("seed %d run %d step %d: n = %d, want %d", seed, run, step, tab.n, len(m))
			}
			checkKeyCtrl(t, tab)
			seen := 0
			tab.each(func(k string, g *grant) {
				seen++
				if m[k] != g {
					t.Fatalf("seed %d run %d step %d: each(%q) = %p, want %p", seed, run, step, k, g, m[k])
				}
			})
			if seen != len(m) {
				t.Fatalf("seed %d run %d step %d: each saw %d keys, want %d", seed, run, step, seen, len(m))
			}
			for _, k := range universe {
				if got := tab.get(k); got != m[k] {
					t.Fatalf("seed %d run %d step %d: get(%q) = %p, want %p", seed, run, step, k, got, m[k])
				}
				if got := prevTab.get(k); got != prevMap[k] {
					t.Fatalf("seed %d run %d step %d: previous table changed for %q", seed, run, step, k)
				}
			}
		}
	}
}

// checkKeyCtrl holds every control byte to its slot: 0 for an empty slot,
// the tag of the key's hash otherwise.
func checkKeyCtrl(t *testing.T, tab *keyTable) {
	t.Helper()
	for i := range uint64(tab.size()) {
		want := uint8(0)
		if tab.slot(i).g != nil {
			want = keyTag(tab.slotHash(i))
		}
		if got := tab.ctrl(i); got != want {
			t.Fatalf("slot %d: control byte %#x, want %#x", i, got, want)
		}
	}
}
