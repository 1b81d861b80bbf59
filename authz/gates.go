package authz

import "strings"

// isSystemIndex reports whether idx is a configured system index (R-SYS-1).
func (e *Evaluator) isSystemIndex(idx string) bool {
	return e.settings.SystemIndicesEnabled && e.systemIndices.match(idx)
}

// systemGate applies R-SYS-3/4. It returns the indices to evaluate further
// (the security index stripped when filtering is on) and false when the
// request is denied.
func (c *evalCtx) systemGate(d *Decision, ai *actionInfo) ([]string, bool) {
	e, req := c.e, c.req
	action := ai.action
	anySecurity, anySystem := false, false
	kib := e.dyn.KibanaIndex
	for _, idx := range req.Indices {
		if idx == e.configIndex {
			anySecurity = true
		} else if e.isSystemIndex(idx) {
			anySystem = true
		}
		// For tenantGate, in the same pass.
		c.kibana = c.kibana || strings.HasPrefix(idx, kib)
	}
	c.kibanaKnown = true
	if !anySecurity && !anySystem && !(ai.sysDenied && req.AllIndices) {
		return req.Indices, true // the common case: no rule applies
	}
	indices := req.Indices
	deny := func(why ...string) ([]string, bool) {
		d.Allowed = false
		d.Missing = d.Missing[:0]
		c.markSystemIndices(d)
		if c.ex != nil {
			c.ex.Gate = strings.Join(why, "")
			c.note(c.ex.Gate)
		}
		return nil, false
	}
	if e.settings.SystemIndexPermissionEnabled {
		if anySecurity {
			return deny("the security index ", e.configIndex, " is never accessible to non-admin users (R-SYS-3)")
		}
		if anySystem {
			if !c.allGranted(req.Indices, systemIndexAction) {
				return deny("system index access needs an explicit ", systemIndexAction, " on every requested index (R-SYS-3)")
			}
		}
	}
	if ai.sysDenied {
		if req.AllIndices {
			if !e.settings.FilterSecurityIndexFromAllRequests {
				return deny("write-type action ", action, " on all indices (R-SYS-4)")
			}
		}
		if !e.settings.SystemIndexPermissionEnabled && (anySystem || anySecurity) {
			return deny("write-type action ", action, " on a system index without the system index permission feature (R-SYS-4)")
		}
	}
	if anySecurity && req.AllIndices && e.settings.FilterSecurityIndexFromAllRequests {
		// A fresh slice (a rare path): effBuf stays free for the dnfof
		// reduction, which filters these indices again.
		indices = make([]string, 0, len(req.Indices))
		for _, idx := range req.Indices {
			if idx != e.configIndex {
				indices = append(indices, idx)
			}
		}
		d.EffectiveIndices = indices
		c.note("security index stripped from an all-indices request (filter_securityindex_from_all_requests)")
	}
	if anySystem || anySecurity {
		c.markSystemIndices(d)
	}
	return indices, true
}

// markSystemIndices records system_index: true per index (R-SYS-6).
func (c *evalCtx) markSystemIndices(d *Decision) {
	for _, idx := range c.req.Indices {
		if idx == c.e.configIndex || c.e.isSystemIndex(idx) {
			d.useIndices()
			id := d.Indices[idx]
			id.SystemIndex = true
			d.Indices[idx] = id
		}
	}
}

// tenantQuestion answers a tenant decision (R-TEN-5, R-TEN-8).
func (c *evalCtx) tenantQuestion(d *Decision) {
	e, req := c.e, c.req
	s := &req.Subject
	d.Tenants = e.tenantMap(s, c.roleSet())
	tenant := req.Tenant
	if tenant == privateTenant && !e.dyn.PrivateTenantEnabled {
		d.TenantAccess = TenantAccessNone
		d.Allowed = false
		d.Missing = d.Missing[:0]
		c.note("private tenant requested while kibana.private_tenant_enabled is false (R-TEN-6)")
		return
	}
	d.TenantAccess = tenantAccess(d.Tenants, tenant)
	switch {
	case !e.dyn.MultitenancyEnabled || s.Name == e.dyn.ServerUsername:
		d.Allowed = true
		c.note("tenant checks do not apply (multitenancy disabled or dashboards server user)")
	case strings.EqualFold(req.TenantAccess, "write"):
		d.Allowed = d.TenantAccess == TenantAccessWrite
	default:
		d.Allowed = d.TenantAccess != TenantAccessNone
	}
	if c.ex != nil {
		c.ex.Tenant = &TenantTrace{Tenant: tenant, Access: d.TenantAccess, Tenants: d.Tenants}
	}
}

// tenantGate applies R-TEN-6 to an index action. It returns true when the
// decision is final.
func (c *evalCtx) tenantGate(d *Decision, action string, indices []string) bool {
	e, req := c.e, c.req
	s := &req.Subject
	if !e.dyn.MultitenancyEnabled || len(indices) == 0 {
		return false
	}
	if !c.kibanaKnown {
		c.kibana, c.kibanaKnown = touchesKibana(indices, e.dyn.KibanaIndex), true
	}
	if !c.kibana && s.RequestedTenant != privateTenant || s.Name == e.dyn.ServerUsername {
		return false
	}
	kib := e.dyn.KibanaIndex
	onlyKibana := true
	for _, idx := range indices {
		if idx != kib {
			onlyKibana = false
			break
		}
	}
	tenant := s.RequestedTenant
	deny := func(why ...string) bool {
		d.Allowed = false
		d.Missing = append(d.Missing[:0], action)
		c.note(why...)
		return true
	}
	if tenant == privateTenant {
		if !e.dyn.PrivateTenantEnabled {
			return deny("private tenant requested while kibana.private_tenant_enabled is false (R-TEN-6)")
		}
		tenant = s.Name
	}
	check := func(t string) bool {
		if d.Tenants == nil {
			d.Tenants = e.tenantMap(s, c.roleSet())
		}
		w, ok := d.Tenants[t]
		if t == s.Name && s.RequestedTenant == privateTenant {
			ok, w = true, true
		}
		return ok && (w || isTenantReadOnlyAction(action))
	}
	if tenant == "" {
		if onlyKibana && !check(globalTenant) {
			return deny("the dashboards index without a tenant needs the global tenant (R-TEN-6)")
		}
		return false
	}
	tenantIdx := TenantIndexName(kib, tenant)
	if len(indices) == 1 && strings.HasPrefix(indices[0], tenantIdx) {
		if !check(tenant) {
			return deny("tenant ", tenant, " is not writable or not granted (R-TEN-6)")
		}
		d.Allowed = true
		c.note("request on the tenant's own dashboards index: allowed (R-TEN-6)")
		return true
	}
	if onlyKibana {
		if !check(tenant) {
			return deny("tenant ", tenant, " is not writable or not granted (R-TEN-6)")
		}
		d.Allowed = true
		d.EffectiveIndices = []string{tenantIdx}
		c.note("dashboards index redirected to the tenant index ", tenantIdx, " (R-TEN-6)")
		return true
	}
	return false
}

// touchesKibana reports whether some index starts with the dashboards index
// name (R-TEN-6 applies only then, or with the private tenant).
func touchesKibana(indices []string, kib string) bool {
	for _, idx := range indices {
		if strings.HasPrefix(idx, kib) {
			return true
		}
	}
	return false
}
