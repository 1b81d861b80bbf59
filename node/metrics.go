package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprometheus "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/fsm"
	"github.com/authzd/authzd/transport/bus"
)

// metrics are one node's own series (docs/metrics.md), in the node's own
// registry: three nodes in one process (authzd dev, tests) never share a
// series. The API registers its HTTP, decision and cache series in the same
// registry; the series read at scrape time come from nodeCollector.
type metrics struct {
	reg *prometheus.Registry

	applyLatency    prometheus.Histogram
	leaderChanges   prometheus.Counter
	batchDuration   prometheus.Histogram
	batchEntries    prometheus.Histogram
	evalUpdate      prometheus.Histogram
	snapshotCreate  prometheus.Histogram
	snapshotPersist prometheus.Histogram
	snapshotRestore prometheus.Histogram
	snapshotBytes   prometheus.Gauge
	published       *prometheus.CounterVec // result: stored, duplicate
	publishErrors   prometheus.Counter
	publishLag      prometheus.Histogram
	ownerRegs       *prometheus.CounterVec // result: created, exists, error
}

// durationBuckets span an FSM batch or a commit on a fast disk (sub-ms) up
// to a whole-configuration compile or snapshot of a large cluster (tens of s).
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newMetrics(n *Node) (*metrics, error) {
	h := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		applyLatency: h("authzd_raft_apply_duration_seconds",
			"Time from proposing an entry on the leader (raft.Apply) until this node's FSM applied it.", durationBuckets),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "authzd_raft_leader_changes_total",
			Help: "Times this node learned of a new Raft leader (raft.LeaderObservation with a leader)."}),
		batchDuration: h("authzd_fsm_apply_batch_duration_seconds",
			"Time the FSM took to apply one batch of committed entries (decode, apply, evaluator update, publish).", durationBuckets),
		batchEntries: h("authzd_fsm_apply_batch_entries",
			"Log entries in one FSM batch.", prometheus.ExponentialBuckets(1, 2, 11)),
		evalUpdate: h("authzd_evaluator_update_duration_seconds",
			"Duration of the FSM batches that rebuilt the evaluator (authz.Update or Compile dominates them); restores are in authzd_fsm_snapshot_restore_duration_seconds.", durationBuckets),
		snapshotCreate: h("authzd_fsm_snapshot_create_duration_seconds",
			"Time FSM.Snapshot held the FSM goroutine to capture the state.", durationBuckets),
		snapshotPersist: h("authzd_fsm_snapshot_persist_duration_seconds",
			"Time to encode and write a snapshot (FSMSnapshot.Persist).", durationBuckets),
		snapshotRestore: h("authzd_fsm_snapshot_restore_duration_seconds",
			"Time to restore a snapshot and compile its evaluator (FSM.Restore).", durationBuckets),
		snapshotBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authzd_fsm_snapshot_size_bytes",
			Help: "Size of the last snapshot this node persisted."}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authzd_changes_published_total",
			Help: "Changes this node published on the change stream, by result: stored, or duplicate (another node published the revision first)."}, []string{"result"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "authzd_changes_publish_errors_total",
			Help: "Failed change stream publications (each is retried)."}),
		publishLag: h("authzd_changes_publish_lag_seconds",
			"Time from a change's proposal (its at, the proposer's clock) until this node stored it on the change stream.", durationBuckets),
		ownerRegs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authzd_ownership_registrations_total",
			Help: "Ownership registrations through this node, by result: created, exists (a record was already there) or error."}, []string{"result"}),
	}
	for _, r := range []string{"stored", "duplicate"} {
		m.published.WithLabelValues(r)
	}
	for _, r := range []string{"created", "exists", "error"} {
		m.ownerRegs.WithLabelValues(r)
	}
	bridge, err := raftBridge()
	if err != nil {
		return nil, err
	}
	m.reg.MustRegister(m.applyLatency, m.leaderChanges, m.batchDuration, m.batchEntries, m.evalUpdate,
		m.snapshotCreate, m.snapshotPersist, m.snapshotRestore, m.snapshotBytes,
		m.published, m.publishErrors, m.publishLag, m.ownerRegs, &nodeCollector{n: n}, bridge,
		// go_* and process_* describe the process, like the raft_* series.
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m, nil
}

// handler serves the registry in the Prometheus text format. With
// requireCert only clients presenting a certificate of the cluster CA get it.
func (m *metrics) handler(requireCert bool) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	if !requireCert {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "metrics need a client certificate of the cluster CA", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// The go-metrics bridge. hashicorp/raft emits through the process-wide
// global of github.com/hashicorp/go-metrics/compat, which forwards to
// armon/go-metrics unless the binary is built with -tags hashicorpmetrics;
// the compat packages follow the same tag, so the sink installed here is
// the one raft writes to either way. Being process-wide, it is installed
// once and its raft_* series sum every node of the process.
var bridge struct {
	once sync.Once
	sink *gmprometheus.PrometheusSink
	err  error
}

func raftBridge() (prometheus.Collector, error) {
	bridge.once.Do(func() {
		// The sink registers itself; a private registry keeps it out of
		// prometheus.DefaultRegisterer. Each node registers it again in its own.
		sink, err := gmprometheus.NewPrometheusSinkFrom(gmprometheus.PrometheusOpts{
			Registerer: prometheus.NewRegistry(), Name: "authzd_raft_go_metrics_bridge",
		})
		if err != nil {
			bridge.err = fmt.Errorf("go-metrics prometheus sink: %w", err)
			return
		}
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false       // no host name inside metric names
		cfg.EnableRuntimeMetrics = false // client_golang does not start a goroutine for these; neither do we
		if _, err := gometrics.NewGlobal(cfg, sink); err != nil {
			bridge.err = fmt.Errorf("go-metrics global: %w", err)
			return
		}
		bridge.sink = sink
	})
	return bridge.sink, bridge.err
}

// nodeCollector reads the node's current state at scrape time: Raft
// indexes and state, the FSM revision, configuration sizes, NATS and the
// ownership index. Everything it reads is an atomic load or a short lock.
type nodeCollector struct{ n *Node }

var (
	descRaftState = prometheus.NewDesc("authzd_raft_state",
		"1 for this node's current Raft state (Leader, Follower, Candidate, Shutdown), 0 for the others.", []string{"state"}, nil)
	descRaftTerm    = prometheus.NewDesc("authzd_raft_term", "Current Raft term.", nil, nil)
	descRaftCommit  = prometheus.NewDesc("authzd_raft_commit_index", "Raft commit index as this node knows it.", nil, nil)
	descRaftApplied = prometheus.NewDesc("authzd_raft_applied_index", "Last Raft index applied to this node's FSM.", nil, nil)
	descRaftLast    = prometheus.NewDesc("authzd_raft_last_log_index", "Last index in this node's Raft log.", nil, nil)
	descRevision    = prometheus.NewDesc("authzd_fsm_revision",
		"Revision of the state and evaluator this node serves (the Raft index of the last applied command).", nil, nil)
	descEntities = prometheus.NewDesc("authzd_evaluator_config_entities",
		"Entities of the configuration the evaluator was compiled from, by kind.", []string{"kind"}, nil)
	descNATSConnected = prometheus.NewDesc("authzd_nats_connected", "1 when this node's NATS connection is up.", nil, nil)
	descNATSJetStream = prometheus.NewDesc("authzd_nats_jetstream_ready",
		"1 once JetStream answered and the change stream and ownership bucket exist.", nil, nil)
	descNATSServer = prometheus.NewDesc("authzd_nats_embedded_server_running",
		"1 while this node runs an embedded NATS server (0 with an external cluster).", nil, nil)
	descChangesPending = prometheus.NewDesc("authzd_changes_pending", "Changes queued for the change stream.", nil, nil)
	descChangesDropped = prometheus.NewDesc("authzd_changes_dropped_total",
		"Changes dropped because the change queue was full.", nil, nil)
	descOwners       = prometheus.NewDesc("authzd_ownership_records", "Ownership records in this node's index, by kind.", []string{"kind"}, nil)
	descOwnersLoaded = prometheus.NewDesc("authzd_ownership_index_loaded", "1 once the ownership index completed its first load.", nil, nil)
	descOwnersStale  = prometheus.NewDesc("authzd_ownership_index_stale_seconds",
		"How long the ownership index has not been known current (0 when it is, -1 before the first load).", nil, nil)
)

var raftStates = []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown}

// Describe sends the descriptions of every series Collect may send.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descRaftTerm, descRaftCommit, descRaftApplied, descRaftLast,
		descRevision, descEntities, descNATSConnected, descNATSJetStream, descNATSServer, descChangesPending,
		descChangesDropped, descOwners, descOwnersLoaded, descOwnersStale} {
		ch <- d
	}
}

// Collect sends the current values; called by the registry on every scrape.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if r := n.raft; r != nil {
		st := r.State()
		for _, s := range raftStates {
			gauge(descRaftState, boolValue(st == s), s.String())
		}
		gauge(descRaftTerm, float64(r.CurrentTerm()))
		gauge(descRaftCommit, float64(r.CommitIndex()))
		gauge(descRaftApplied, float64(r.AppliedIndex()))
		gauge(descRaftLast, float64(r.LastIndex()))
	}
	v := n.machine.View()
	gauge(descRevision, float64(v.Rev))
	for _, k := range []struct {
		kind authz.Kind
		n    int
	}{
		{authz.KindInternalUsers, len(v.Config.InternalUsers)}, {authz.KindRoles, len(v.Config.Roles)},
		{authz.KindRolesMapping, len(v.Config.RolesMapping)}, {authz.KindActionGroups, len(v.Config.ActionGroups)},
		{authz.KindTenants, len(v.Config.Tenants)},
	} {
		gauge(descEntities, float64(k.n), string(k.kind))
	}
	if n.bus != nil {
		gauge(descNATSConnected, boolValue(n.bus.IsConnected()))
		gauge(descNATSJetStream, boolValue(n.bus.IsReady()))
		gauge(descChangesPending, float64(n.pub.Pending()))
		ch <- prometheus.MustNewConstMetric(descChangesDropped, prometheus.CounterValue, float64(n.pub.Dropped()))
	}
	gauge(descNATSServer, boolValue(n.natsSrv != nil && n.natsSrv.IsRunning()))
	x := n.owners.index()
	for _, k := range authz.OwnerKinds {
		gauge(descOwners, float64(x.KindLen(k)), string(k))
	}
	st := n.owners.status()
	gauge(descOwnersLoaded, boolValue(st.loaded))
	stale := float64(st.staleMS) / 1000
	if st.staleMS < 0 {
		stale = -1
	}
	gauge(descOwnersStale, stale)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// watchLeaders registers a Raft observer of leader changes and returns the
// function that counts them until the node stops. Start registers it right
// after raft.NewRaft, before the first election can end, and runs the
// returned function on its own goroutine, which Close waits for.
func (n *Node) watchLeaders() func() {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	return func() {
		defer n.raft.DeregisterObserver(obs)
		n.countLeaders(ch)
	}
}

func (n *Node) countLeaders(ch <-chan raft.Observation) {
	for {
		select {
		case <-n.stop:
			return
		case o := <-ch:
			if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
				n.met.leaderChanges.Inc()
			}
		}
	}
}

// meteredFSM is the raft.FSM the node hands to Raft: the Machine, with its
// batches, snapshots and restores timed. The timing lives here, not in fsm,
// which reads no clock.
type meteredFSM struct {
	m   *fsm.Machine
	met *metrics
}

var _ raft.BatchingFSM = (*meteredFSM)(nil)

// Apply is raft.FSM.Apply, called on raft's FSM goroutine.
func (f *meteredFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch is raft.BatchingFSM.ApplyBatch, called on raft's FSM goroutine.
func (f *meteredFSM) ApplyBatch(logs []*raft.Log) []any {
	before := f.m.View().Eval
	start := time.Now()
	out := f.m.ApplyBatch(logs)
	d := time.Since(start).Seconds()
	f.met.batchDuration.Observe(d)
	f.met.batchEntries.Observe(float64(len(logs)))
	if f.m.View().Eval != before {
		f.met.evalUpdate.Observe(d)
	}
	return out
}

// Snapshot is raft.FSM.Snapshot, called on raft's FSM goroutine.
func (f *meteredFSM) Snapshot() (raft.FSMSnapshot, error) {
	start := time.Now()
	s, err := f.m.Snapshot()
	f.met.snapshotCreate.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	return &meteredSnapshot{FSMSnapshot: s, met: f.met}, nil
}

// Restore is raft.FSM.Restore, called on raft's FSM goroutine.
func (f *meteredFSM) Restore(rc io.ReadCloser) error {
	start := time.Now()
	err := f.m.Restore(rc)
	f.met.snapshotRestore.Observe(time.Since(start).Seconds())
	return err
}

type meteredSnapshot struct {
	raft.FSMSnapshot
	met *metrics
}

// Persist is raft.FSMSnapshot.Persist, called by raft off the FSM goroutine.
func (s *meteredSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	cs := &countingSink{SnapshotSink: sink}
	err := s.FSMSnapshot.Persist(cs)
	s.met.snapshotPersist.Observe(time.Since(start).Seconds())
	if err == nil {
		s.met.snapshotBytes.Set(float64(cs.n))
	}
	return err
}

type countingSink struct {
	raft.SnapshotSink
	n int64
}

func (c *countingSink) Write(p []byte) (int, error) {
	n, err := c.SnapshotSink.Write(p)
	c.n += int64(n)
	return n, err
}

// meteredChanges is the bus as the change publisher sees it, with every
// publication counted and its lag observed.
type meteredChanges struct {
	*bus.Bus
	met *metrics
}

// PublishChanges publishes cs and records each outcome.
func (p meteredChanges) PublishChanges(ctx context.Context, cs []bus.Change) []bus.PublishOutcome {
	out := p.Bus.PublishChanges(ctx, cs)
	now := time.Now()
	for i, o := range out {
		switch {
		case o.Err != nil:
			p.met.publishErrors.Inc()
		case o.Duplicate:
			p.met.published.WithLabelValues("duplicate").Inc()
		default:
			p.met.published.WithLabelValues("stored").Inc()
			if at := cs[i].At; at > 0 {
				p.met.publishLag.Observe(max(0, now.Sub(time.UnixMilli(at)).Seconds()))
			}
		}
	}
	return out
}

// Registry is the node's metrics registry (served on GET /metrics).
func (n *Node) Registry() *prometheus.Registry { return n.met.reg }
