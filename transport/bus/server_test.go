package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authzd/authzd/transport/bus"
	"github.com/authzd/authzd/transport/bustest"
)

// TestRemovePeer: servers that left stop counting in JetStream's meta group
// once RemovePeer names them, whether they are gone or still run (the meta
// leader here, which never answers its own removal); JetStream goes on with
// the rest; and the system account's user is closed to anyone without its
// password.
func TestRemovePeer(t *testing.T) {
	srv, tm := bustest.Servers(t, 3)
	bustest.MetaSize(t, 3, srv[0])
	leader := bustest.MetaLeader(t, srv...)
	name := func(i int) string { return srv[i].Config().Name }
	// RemovePeer names servers by the id nats-server derives from the name.
	for i, s := range srv {
		if got, want := bus.MetaPeerID(name(i)), s.Node(); got != want {
			t.Fatalf("MetaPeerID(%q) = %q, the server's own id is %q", name(i), got, want)
		}
	}
	a, b := (leader+1)%3, (leader+2)%3

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv[a].RemovePeer(ctx, "nobody"); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("removing an unknown server: %v", err)
	}
	// Each removal needs a quorum of the group it changes: the stopped
	// server goes first, while two of three run.
	if err := srv[b].Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := srv[a].RemovePeer(ctx, name(b)); err != nil {
		t.Fatalf("remove the stopped %s: %v", name(b), err)
	}
	bustest.MetaSize(t, 2, srv[a])
	if err := srv[a].RemovePeer(ctx, name(leader)); err != nil {
		t.Fatalf("remove the running meta leader %s: %v", name(leader), err)
	}
	bustest.MetaSize(t, 1, srv[a])
	// Streams made now live on the last server; a client without
	// credentials (the client user) can use them.
	last := bustest.Connect(t, srv[a].ClientURL(), tm, 1)
	if out := last.PublishChanges(ctx, []bus.Change{{Revision: 1, Type: "test"}}); out[0].Err != nil {
		t.Fatalf("jetstream on the last server: %v", out[0].Err)
	}

	for _, user := range []string{"authzd-system", "authzd"} {
		nc, err := nats.Connect(srv[a].ClientURL(), nats.Secure(tm.ClientConfig()), nats.UserInfo(user, "guess"), nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Fatalf("%s connected with a guessed password", user)
		}
	}
}

// TestRemovePeerUnseen: a server can be removed even when the meta leader
// never saw it run. Here every server that still runs was restarted after s3
// stopped, so none of them heard s3's name; the removal names s3 by the id
// nats-server derives from the name, which the meta group does know.
func TestRemovePeerUnseen(t *testing.T) {
	srv, _ := bustest.Servers(t, 3)
	bustest.MetaSize(t, 3, srv...)
	bustest.MetaLeader(t, srv...)
	if err := srv[2].Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		srv[i] = bustest.Restart(t, srv[i])
		bustest.MetaSize(t, 3, srv[:2]...)
		bustest.MetaLeader(t, srv[:2]...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv[0].RemovePeer(ctx, "s3"); err != nil {
		t.Fatalf("remove s3, which no running server saw: %v", err)
	}
	bustest.MetaSize(t, 2, srv[:2]...)
	bustest.MetaLeader(t, srv[:2]...)
}
