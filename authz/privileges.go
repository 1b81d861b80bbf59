package authz

// HasIndexPrivilege reports whether the index permissions of the mapped
// roles of req.Subject grant req.Action on every one of req.Indices (the
// R-EVAL-6..8 check table for this single action; templates rendered,
// req.IndexParents honoured), without the cluster/index classification of
// R-EVAL-4 and without the system-index or tenant gates. It is what an
// Elasticsearch-style has_privileges question about an index privilege
// asks, and the rule the bench workloads' reference evaluator applies to
// every request with indices. No indices means granted. It allocates
// nothing in the common case.
func (e *Evaluator) HasIndexPrivilege(req *Request) bool {
	if len(req.Indices) == 0 {
		return true
	}
	var gbuf [grantsInline]*grant
	gs, ext := e.subjectGrants(&req.Subject, gbuf[:0], nil)
	c := evalCtx{e: e, req: req, gs: gs, ext: ext, slow: e.slowPath}
	var cellsBuf [64]bool
	cells := growBools(cellsBuf[:0], len(req.Indices))
	required := [1]*actionInfo{c.info(rewriteAction(req.Action))}
	return c.fillCells(req.Indices, required[:], cells) == 0
}
