// Package bustest is the conformance suite of the bus contract (STYLE.md §3,
// like openfga's RunAllTests): Run drives the change stream, cache flush and
// ownership bucket of any implementation through the same cases. It also
// starts embedded NATS servers for tests. It is imported only by tests.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authzd/authzd/transport"
	"github.com/authzd/authzd/transport/bus"
)

// Bus is the contract under test: what node and the PEP use.
type Bus interface {
	PublishChanges(ctx context.Context, cs []bus.Change) []bus.PublishOutcome
	LastRevision(ctx context.Context) (uint64, error)
	Changes(ctx context.Context, from uint64) (*bus.ChangeSub, error)
	PublishFlush(ctx context.Context, f bus.Flush) error
	SubscribeFlush(fn func(bus.Flush)) (*bus.Subscription, error)
	CreateOwner(ctx context.Context, key string, value []byte) (uint64, error)
	GetOwner(ctx context.Context, key string) (bus.Entry, error)
	DeleteOwner(ctx context.Context, key string, seq uint64) (uint64, error)
	WatchOwners(ctx context.Context) (*bus.OwnerWatch, error)
}

// Run runs every case. open returns two buses connected to the same
// cluster (to different servers when it has several); they are reused by
// all cases, which therefore use distinct keys and increasing revisions.
func Run(t *testing.T, open func(t *testing.T) (a, b Bus)) {
	a, b := open(t)
	var rev atomic.Uint64
	last, err := a.LastRevision(t.Context())
	if err != nil {
		t.Fatalf("LastRevision: %v", err)
	}
	rev.Store(last + 1000)
	next := func() uint64 { return rev.Add(1) }

	t.Run("ChangeSeenOnceWhenBothPublish", func(t *testing.T) {
		sub, err := b.Changes(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		r1, r2 := next(), next()
		for _, r := range []uint64{r1, r2} {
			c := bus.Change{Revision: r, Type: "role.put", Keys: []string{"roles/x"}, Actor: "admin", At: 1}
			if o := publishOne(t, a, c); o.Err != nil || o.Duplicate {
				t.Fatalf("publish %d on a: %+v", r, o)
			}
			if o := publishOne(t, b, c); o.Err != nil || !o.Duplicate {
				t.Fatalf("publish %d on b: %+v, want a duplicate", r, o)
			}
		}
		for _, want := range []uint64{r1, r2} {
			c := nextChange(t, sub)
			if c.Revision != want || c.Type != "role.put" || !slices.Equal(c.Keys, []string{"roles/x"}) || c.Actor != "admin" {
				t.Fatalf("got %+v, want revision %d", c, want)
			}
		}
		if got, err := a.LastRevision(t.Context()); err != nil || got != r2 {
			t.Fatalf("LastRevision = %d, %v; want %d", got, err, r2)
		}
	})

	t.Run("ResumeFromRevision", func(t *testing.T) {
		revs := []uint64{next(), next(), next()}
		for _, r := range revs {
			if o := publishOne(t, a, bus.Change{Revision: r, Type: "tenant.put", Keys: []string{fmt.Sprintf("tenants/t%d", r)}}); o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		sub, err := b.Changes(t.Context(), revs[1])
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		for _, want := range revs[1:] {
			if c := nextChange(t, sub); c.Revision != want || c.Type != "tenant.put" {
				t.Fatalf("got %+v, want revision %d", c, want)
			}
		}
		// An old revision published again later is not delivered twice.
		later := next()
		if o := publishOne(t, a, bus.Change{Revision: later, Type: "tenant.put"}); o.Err != nil {
			t.Fatal(o.Err)
		}
		if c := nextChange(t, sub); c.Revision != later {
			t.Fatalf("got %+v, want %d", c, later)
		}
	})

	t.Run("PublishChangesInOrder", func(t *testing.T) {
		sub, err := b.Changes(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		var cs []bus.Change
		for range 300 { // more than one ack would be waited for at a time
			cs = append(cs, bus.Change{Revision: next(), Type: "role.put", Keys: []string{"roles/w"}})
		}
		for i, o := range a.PublishChanges(t.Context(), cs) {
			if o.Err != nil || o.Duplicate {
				t.Fatalf("change %d on a: %+v", cs[i].Revision, o)
			}
		}
		// The other bus, behind: what a published is a duplicate, the rest is stored.
		more := append(cs[len(cs)-2:len(cs):len(cs)], bus.Change{Revision: next(), Type: "role.put"})
		out := b.PublishChanges(t.Context(), more)
		if out[0].Err != nil || !out[0].Duplicate || out[1].Err != nil || !out[1].Duplicate || out[2].Err != nil || out[2].Duplicate {
			t.Fatalf("b behind a: %+v", out)
		}
		for _, c := range append(cs, more[2]) {
			if got := nextChange(t, sub); got.Revision != c.Revision {
				t.Fatalf("got revision %d, want %d", got.Revision, c.Revision)
			}
		}
		if got, err := a.LastRevision(t.Context()); err != nil || got != more[2].Revision {
			t.Fatalf("LastRevision = %d, %v; want %d", got, err, more[2].Revision)
		}
	})

	t.Run("FlushReachesEveryBus", func(t *testing.T) {
		got := make(chan bus.Flush, 4)
		for _, x := range []Bus{a, b} {
			s, err := x.SubscribeFlush(func(f bus.Flush) {
				if f.Origin != "probe" {
					got <- f
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop()
		}
		waitInterest(t, a, b)
		if err := a.PublishFlush(t.Context(), bus.Flush{Users: []string{"judy"}, Origin: "a"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			select {
			case f := <-got:
				if !slices.Equal(f.Users, []string{"judy"}) || f.Origin != "a" {
					t.Fatalf("flush = %+v", f)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("flush not received by both buses")
			}
		}
	})

	t.Run("OwnerCreateGetDelete", func(t *testing.T) {
		key := fmt.Sprintf("detector.k%d", next())
		seq, err := a.CreateOwner(t.Context(), key, []byte(`{"v":1}`))
		if err != nil || seq == 0 {
			t.Fatalf("create: %d %v", seq, err)
		}
		if _, err := b.CreateOwner(t.Context(), key, []byte(`{"v":2}`)); !errors.Is(err, bus.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		e, err := b.GetOwner(t.Context(), key)
		if err != nil || string(e.Value) != `{"v":1}` || e.Seq != seq {
			t.Fatalf("get = %+v %v", e, err)
		}
		if _, err := b.DeleteOwner(t.Context(), key, seq+1000); !errors.Is(err, bus.ErrChanged) {
			t.Fatalf("delete with a wrong sequence: %v, want ErrChanged", err)
		}
		dseq, err := b.DeleteOwner(t.Context(), key, seq)
		if err != nil || dseq <= seq {
			t.Fatalf("delete: %d %v", dseq, err)
		}
		if _, err := a.GetOwner(t.Context(), key); !errors.Is(err, bus.ErrNotFound) {
			t.Fatalf("get after delete: %v, want ErrNotFound", err)
		}
		// A deleted key may be registered again.
		if _, err := a.CreateOwner(t.Context(), key, []byte(`{"v":3}`)); err != nil {
			t.Fatalf("create after delete: %v", err)
		}
	})

	t.Run("WatchSeesInitialValuesThenUpdates", func(t *testing.T) {
		k1, k2 := fmt.Sprintf("async_search.w%d", next()), fmt.Sprintf("async_search.w%d", next())
		s1, err := a.CreateOwner(t.Context(), k1, []byte("one"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := b.WatchOwners(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		seen := map[string]bus.Entry{}
		for {
			e, done, err := nextEntry(t, w)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				break
			}
			seen[e.Key] = e
		}
		if e := seen[k1]; string(e.Value) != "one" || e.Seq != s1 {
			t.Fatalf("initial %s = %+v", k1, e)
		}
		s2, err := a.CreateOwner(t.Context(), k2, []byte("two"))
		if err != nil {
			t.Fatal(err)
		}
		d1, err := a.DeleteOwner(t.Context(), k1, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []bus.Entry{{Key: k2, Value: []byte("two"), Seq: s2}, {Key: k1, Seq: d1, Deleted: true}}
		for _, wnt := range want {
			for {
				e, _, err := nextEntry(t, w)
				if err != nil {
					t.Fatal(err)
				}
				if e.Key != k1 && e.Key != k2 {
					continue // another case's key
				}
				if e.Key != wnt.Key || string(e.Value) != string(wnt.Value) || e.Seq != wnt.Seq || e.Deleted != wnt.Deleted {
					t.Fatalf("update = %+v, want %+v", e, wnt)
				}
				break
			}
		}
	})
}

// publishOne publishes one change through x.
func publishOne(t *testing.T, x Bus, c bus.Change) bus.PublishOutcome {
	t.Helper()
	return x.PublishChanges(t.Context(), []bus.Change{c})[0]
}

func nextChange(t *testing.T, s *bus.ChangeSub) bus.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next change: %v", err)
	}
	return c
}

func nextEntry(t *testing.T, w *bus.OwnerWatch) (bus.Entry, bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return w.Next(ctx)
}

// waitInterest makes sure both subscriptions have reached the servers:
// a round trip through each connection's server suffices for the local
// server, and a probe flush confirms cross-server propagation.
func waitInterest(t *testing.T, a, b Bus) {
	t.Helper()
	probe := make(chan struct{}, 16)
	s, err := b.SubscribeFlush(func(f bus.Flush) {
		if f.Origin == "probe" {
			select {
			case probe <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := a.PublishFlush(t.Context(), bus.Flush{Origin: "probe"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-probe:
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("subscription interest did not propagate")
		}
	}
}

// Servers starts n embedded servers clustered with each other (n == 1: a
// single server without cluster port) on 127.0.0.1 ports chosen by the OS,
// and shuts them down in t.Cleanup. It returns the servers and the TLS
// material of a client of the cluster CA.
func Servers(t testing.TB, n int) ([]*bus.Server, *transport.TLSMaterial) {
	t.Helper()
	root := t.TempDir()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%d", i+1)
	}
	pki, err := transport.EnsureDevPKI(filepath.Join(root, "certs"), ids)
	if err != nil {
		t.Fatal(err)
	}
	var servers []*bus.Server
	var routes []string
	if n > 1 {
		for range ids {
			routes = append(routes, FreeAddr(t))
		}
	}
	for i, id := range ids {
		routeAddr := "127.0.0.1:0"
		if n > 1 {
			routeAddr = routes[i]
		}
		tm, err := transport.LoadTLS(pki.CAFile, pki.NodeCertFile(id), pki.NodeKeyFile(id))
		if err != nil {
			t.Fatal(err)
		}
		s, err := bus.NewServer(bus.ServerConfig{
			Name: id, DataDir: filepath.Join(root, id), ClientAddr: "127.0.0.1:0", RouteAddr: routeAddr,
			Routes: routes, TLS: tm,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(10 * time.Second); err != nil {
				t.Errorf("close server %d: %v", i, err)
			}
		})
		servers = append(servers, s)
	}
	client, err := transport.LoadTLS(pki.CAFile, pki.AdminCertFile(), pki.AdminKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	return servers, client
}

// Eventually calls f until it returns nil or d passes, then fails with the
// last error.
func Eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MetaSize waits until every one of servers sees a JetStream meta group of
// want servers.
func MetaSize(t testing.TB, want int, servers ...*bus.Server) {
	t.Helper()
	Eventually(t, 20*time.Second, func() error {
		for _, s := range servers {
			if got := s.JetStreamMetaSize(); got != want {
				return fmt.Errorf("%s sees a jetstream meta group of %d, want %d", s.Config().Name, got, want)
			}
		}
		return nil
	})
}

// MetaLeader waits until exactly one of servers leads JetStream's meta
// group and returns its index.
func MetaLeader(t testing.TB, servers ...*bus.Server) int {
	t.Helper()
	leader := -1
	Eventually(t, 20*time.Second, func() error {
		leader = -1
		for i, s := range servers {
			if s.IsJetStreamLeader() {
				if leader >= 0 {
					return fmt.Errorf("%s and %s both lead the jetstream meta group", servers[leader].Config().Name, s.Config().Name)
				}
				leader = i
			}
		}
		if leader < 0 {
			return errors.New("no jetstream meta leader")
		}
		return nil
	})
	return leader
}

// Restart closes s and starts a server with its configuration and data
// again, shut down in t.Cleanup.
func Restart(t testing.TB, s *bus.Server) *bus.Server {
	t.Helper()
	if err := s.Close(10 * time.Second); err != nil {
		t.Fatalf("close %s: %v", s.Config().Name, err)
	}
	again, err := bus.NewServer(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(); err != nil {
		t.Fatalf("restart %s: %v", s.Config().Name, err)
	}
	t.Cleanup(func() {
		if err := again.Close(10 * time.Second); err != nil {
			t.Errorf("close restarted %s: %v", s.Config().Name, err)
		}
	})
	return again
}

// Connect opens a ready bus to url and closes it in t.Cleanup.
func Connect(t testing.TB, url string, tm *transport.TLSMaterial, replicas int) *bus.Bus {
	t.Helper()
	b, err := bus.New(bus.Config{URLs: []string{url}, Name: "bustest", TLS: tm.ClientConfig(), Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { _ = b.Close(5 * time.Second) }) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}
