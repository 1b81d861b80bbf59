package bus

// Node is the embedded server's own id in its Raft groups, for
// TestMetaPeerID.
func (s *Server) Node() string { return s.ns.Node() }
