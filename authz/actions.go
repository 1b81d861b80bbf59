package authz

import "strings"

// rewriteAction applies R-EVAL-3.
func rewriteAction(a string) string {
	switch {
	case strings.HasPrefix(a, "internal:indices/admin/upgrade"):
		return "indices:admin/upgrade"
	case a == "indices:admin/auto_create":
		return "indices:admin/create"
	case a == "indices:admin/mapping/auto_put":
		return "indices:admin/mapping/put"
	}
	return a
}

// Well-known action names.
const (
	actionBulk          = "indices:data/write/bulk"
	actionBulkShard     = "indices:data/write/bulk[s]"
	actionWriteIndex    = "indices:data/write/index"
	actionWriteDelete   = "indices:data/write/delete"
	actionWriteUpdate   = "indices:data/write/update"
	actionSearch        = "indices:data/read/search"
	actionSearchShards  = "indices:admin/shards/search_shards"
	actionAliases       = "indices:admin/aliases"
	actionCreateIndex   = "indices:admin/create"
	actionDeleteIndex   = "indices:admin/delete"
	actionRestore       = "cluster:admin/snapshot/restore"
	systemIndexAction   = "system:admin/system_index"
	restAPIActionPrefix = "restapi:admin/"
)

// IsClusterAction reports whether action is judged as a cluster action
// (R-EVAL-4) after the R-EVAL-3 rewrite.
func IsClusterAction(action string) bool { return isClusterAction(rewriteAction(action)) }

func isClusterAction(a string) bool {
	switch a {
	case actionBulk, "indices:data/read/mget", "indices:data/read/mtv",
		"indices:data/write/reindex", "indices:data/read/search/template/render":
		return true
	}
	return strings.HasPrefix(a, "cluster:") ||
		strings.HasPrefix(a, "indices:admin/template/") ||
		strings.HasPrefix(a, "indices:admin/index_template/") ||
		strings.HasPrefix(a, "indices:data/read/scroll") ||
		strings.HasPrefix(a, "indices:data/read/msearch")
}

// explicitOnly reports whether a is never granted by a bare "*" (R-EVAL-12).
func explicitOnly(a string) bool {
	return a == systemIndexAction || strings.HasPrefix(a, restAPIActionPrefix)
}

// isDnfofAction is the R-EVAL-9 action list.
func isDnfofAction(a string) bool {
	switch a {
	case actionSearchShards, "indices:admin/resolve/index", "indices:monitor/settings/get",
		"indices:monitor/stats", "indices:admin/aliases/get":
		return true
	}
	return strings.HasPrefix(a, "indices:data/read/") || strings.HasPrefix(a, "indices:admin/mappings/fields/get")
}

// isSystemDeniedAction is the R-SYS-4 list of write-type actions.
func (e *Evaluator) isSystemDeniedAction(a string) bool {
	for _, p := range [...]string{"indices:data/write", "indices:admin/delete", "indices:admin/mapping/delete",
		"indices:admin/mapping/put", "indices:admin/freeze", "indices:admin/settings/update"} {
		if strings.HasPrefix(a, p) {
			return true
		}
	}
	if a == actionAliases {
		return true
	}
	if !e.settings.RestoreSecurityIndexEnabled {
		return strings.HasPrefix(a, "indices:admin/close") || strings.HasPrefix(a, actionRestore)
	}
	return false
}
