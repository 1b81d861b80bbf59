package fsm

import (
	"bufio"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/events"
)

// snapshotFormat is the version of the snapshot encoding.
const snapshotFormat = 1

// snapshotData is the persisted form of a View.
type snapshotData struct {
	Format      int             `msgpack:"format"`
	Rev         uint64          `msgpack:"rev"`
	Initialized bool            `msgpack:"initialized"`
	Config      canonicalConfig `msgpack:"config"`
	Changes     []named[Change] `msgpack:"changes"`
	History     []Record        `msgpack:"history"`
	// Members is the member directory; absent in snapshots written before it
	// existed, which decode as an empty directory.
	Members []events.Member `msgpack:"members,omitempty"`
}

type snapshot struct{ view *View }

// Persist writes the view as msgpack; called by raft off the FSM goroutine.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriter(sink)
	err := encodeSnapshot(w, s.view, s.view.Rev)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot rev %d: %w", s.view.Rev, err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// readSnapshot decodes a persisted view (without its evaluator).
func readSnapshot(r io.Reader) (*View, error) {
	var d snapshotData
	if err := msgpack.NewDecoder(bufio.NewReader(r)).Decode(&d); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if d.Format != snapshotFormat {
		return nil, fmt.Errorf("unknown snapshot format %d", d.Format)
	}
	return &View{Rev: d.Rev, Initialized: d.Initialized, Config: d.Config.config(), changes: changeTree(d.Changes), History: historyOf(d.History), Members: d.Members}, nil
}
