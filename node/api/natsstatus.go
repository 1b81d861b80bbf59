package api

// NATSStatus is the nats part of GET /_plugins/_authz/cluster.
type NATSStatus struct {
	// Ready is true when the node is connected, JetStream answers and the
	// ownership index is loaded and current.
	Ready bool `json:"ready"`
	// Mode is "embedded" or "external".
	Mode string `json:"mode"`
	// URL is the server the node is connected to.
	URL string `json:"url,omitempty"`
	// Connected reports the client connection.
	Connected bool `json:"connected"`
	// JetStreamReady is true once JetStream answered and the stream and
	// bucket exist.
	JetStreamReady bool `json:"jetstream_ready"`
	// MetaLeader is true when the embedded server leads the JetStream meta group.
	MetaLeader bool `json:"jetstream_meta_leader"`
	// Replicas of the change stream and ownership bucket.
	Replicas int `json:"replicas"`
	// ChangesPublished, ChangesDropped and ChangesPending count this node's
	// change stream publications (dropped: queue overflow).
	ChangesPublished uint64 `json:"changes_published"`
	ChangesDropped   uint64 `json:"changes_dropped"`
	ChangesPending   int    `json:"changes_pending"`
	// OwnersLoaded is true once the ownership index was loaded.
	OwnersLoaded  bool   `json:"owners_loaded"`
	OwnersSeq     uint64 `json:"owners_seq"`
	OwnersRecords int    `json:"owners_records"`
	// StaleMS is how long the ownership index has not been known current;
	// 0 when current, -1 before the first load.
	StaleMS int64 `json:"stale_ms"`
}
