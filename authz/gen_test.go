package authz

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
)

// testSeed returns the seed of a randomized test: $AUTHZ_SEED when set (to
// replay a failure), else a fresh one. It is logged either way.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if v := os.Getenv("AUTHZ_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("AUTHZ_SEED: %v", err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with AUTHZ_SEED=%d)", seed, seed)
	return seed
}

// gen draws random configurations and requests from small vocabularies, so
// that names collide often enough for every rule to be exercised.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

var (
	genUsers        = []string{"u0", "u1", "u2", "u3", "kibanaserver", "u*"}
	genBackendRoles = []string{"b0", "b1", "b2", "b3", "r1", "admin"}
	genRoleNames    = []string{"r0", "r1", "r2", "r3", "r4", "kibana_user", "all_access"}
	genGroupNames   = []string{"g0", "g1", "g2", "g3"}
	genTenants      = []string{"t1", "t2", "hr"}
	genActions      = []string{
		"cluster:monitor/health", "cluster:monitor/state", "cluster:admin/settings/update",
		"cluster:admin/snapshot/restore", "indices:data/read/search", "indices:data/read/get",
		"indices:data/read/mget", "indices:data/read/scroll", "indices:data/read/msearch",
		"indices:data/write/index", "indices:data/write/delete", "indices:data/write/update",
		"indices:data/write/bulk", "indices:data/write/bulk[s]", "indices:admin/create",
		"indices:admin/delete", "indices:admin/aliases", "indices:admin/mapping/put",
		"indices:monitor/stats", "indices:admin/shards/search_shards", "indices:admin/get",
		"restapi:admin/roles", "system:admin/system_index", "indices:admin/template/put",
		"internal:indices/admin/upgrade", "indices:admin/auto_create", "indices:admin/mappings/fields/get",
	}
	genActionPatterns = []string{
		"*", "indices:*", "indices:data/read*", "indices:data/*", "cluster:*", "cluster:monitor/*",
		"restapi:admin/*", "system:*", "indices:data/write/bulk*", "indices:admin/aliases*",
		"/indices:data/(read|write)/.*/", "indices:data/read/?et", "/(/", "", "kibana:saved_objects/*/write",
		"*write*", "indices:admin/*", "raed",
	}
	genIndices = []string{
		"logs-1", "logs-22", "metrics-a", "secret", ".opendistro_security", ".sys-1", "home-u1",
		"hr-docs", ".kibana", TenantIndexName(".kibana", "t1"), TenantIndexName(".kibana", "u1") + "x", "alias-x",
	}
	genIndexPatterns = []string{
		"*", "logs-*", "logs-?", "metrics-*", "secret", "/logs-[0-9]+/", "/(/", "home-${user.name}",
		"${attr.internal.dept}-*", ".sys-*", "*-docs", "*ogs*", "${user_name}", ".kibana*", "alias-*",
		"${user.roles}", "  ",
	}
	genDLS = []string{"", `{"term":{"owner":"${user.name}"}}`, `{"match_all":{}}`, `{"term":{"dept":"${attr.internal.dept}"}}`}
	genFLS = []string{"a", "~b", "c*", "!d"}
)

func (g *gen) pick(l []string) string { return l[g.r.IntN(len(l))] }

// some returns up to n elements of l (repetitions possible).
func (g *gen) some(l []string, n int) []string {
	k := g.r.IntN(n + 1)
	out := make([]string, 0, k)
	for range k {
		out = append(out, g.pick(l))
	}
	return out
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// genCase is a random configuration with its node settings and the
// config.yml dynamic keys it sets (as the reference reads them).
type genCase struct {
	cfg *Config
	s   Settings
	dyn genDynamic
}

type genDynamic struct {
	DNFOF, DNFOFEmpty, PrivateDisabled, MultitenancyOff bool
	HostsMode                                           string
}

func (g *gen) actionList(n int) []string {
	vocab := slices.Concat(genActions, genActionPatterns, genGroupNames)
	return g.some(vocab, n)
}

func (g *gen) role() Role {
	r := Role{ClusterPermissions: g.actionList(3)}
	for range g.r.IntN(4) {
		ip := IndexPermission{IndexPatterns: g.some(genIndexPatterns, 3), AllowedActions: g.actionList(3)}
		if g.chance(0.35) {
			ip.DLS = g.pick(genDLS)
		}
		if g.chance(0.3) {
			ip.FLS = g.some(genFLS, 2)
		}
		if g.chance(0.15) {
			ip.MaskedFields = g.some([]string{"m1", "m2::SHA-256"}, 2)
		}
		r.IndexPermissions = append(r.IndexPermissions, ip)
	}
	for range g.r.IntN(2) {
		tp := TenantPermission{
			TenantPatterns: g.some([]string{"t*", "hr", "${attr.internal.dept}", "*", "global_tenant", "u1", "/t[0-9]/"}, 2),
			AllowedActions: g.some([]string{"kibana:saved_objects/*/write", "kibana_all_read", "*", "g0"}, 2),
		}
		r.TenantPermissions = append(r.TenantPermissions, tp)
	}
	return r
}

func (g *gen) mapping() RoleMapping {
	var m RoleMapping
	m.Users = g.some(slices.Concat(genUsers, []string{"*", "u?", "/u[0-1]/", "/(/"}), 2)
	m.BackendRoles = g.some(slices.Concat(genBackendRoles, []string{"b*", "/b[2-3]/"}), 2)
	if g.chance(0.2) {
		m.AndBackendRoles = g.some(slices.Concat(genBackendRoles, []string{"b*"}), 2)
	}
	if g.chance(0.2) {
		m.Hosts = g.some([]string{"10.0.0.1", "10.0.0.*", "h1.example", "*.example"}, 2)
	}
	return m
}

func (g *gen) group() ActionGroup {
	return ActionGroup{AllowedActions: slices.Concat(g.actionList(3), g.some(genGroupNames, 1))}
}

func (g *gen) config() genCase {
	cfg := NewConfig()
	for _, n := range genRoleNames {
		if g.chance(0.7) {
			cfg.Roles[n] = g.role()
		}
		if g.chance(0.6) {
			cfg.RolesMapping[n] = g.mapping()
		}
	}
	for _, n := range genGroupNames {
		if g.chance(0.7) {
			cfg.ActionGroups[n] = g.group()
		}
	}
	for _, t := range genTenants {
		if g.chance(0.6) {
			cfg.Tenants[t] = Tenant{}
		}
	}
	for _, u := range genUsers[:3] {
		if g.chance(0.5) {
			cfg.InternalUsers[u] = InternalUser{SecurityRoles: g.some(genRoleNames, 2)}
		}
	}
	var c genCase
	c.cfg = cfg
	c.dyn = genDynamic{DNFOF: g.chance(0.4), DNFOFEmpty: g.chance(0.3), PrivateDisabled: g.chance(0.2), MultitenancyOff: g.chance(0.15)}
	c.dyn.HostsMode = g.pick([]string{"ip-only", "ip-hostname", "ip-hostname-lookup"})
	dyn := map[string]any{
		"do_not_fail_on_forbidden":       c.dyn.DNFOF,
		"do_not_fail_on_forbidden_empty": c.dyn.DNFOFEmpty,
		"hosts_resolver_mode":            c.dyn.HostsMode,
		"kibana":                         map[string]any{"private_tenant_enabled": !c.dyn.PrivateDisabled, "multitenancy_enabled": !c.dyn.MultitenancyOff},
	}
	b, err := json.Marshal(map[string]any{"dynamic": dyn})
	if err != nil {
		panic(err)
	}
	cfg.SecurityConfig = b
	c.s = Settings{
		RolesMappingResolution:             g.pick([]string{"", "MAPPING_ONLY", "backendroles_only", "BOTH", "nonsense"}),
		SystemIndicesEnabled:               g.chance(0.5),
		SystemIndices:                      []string{".sys-*", "/(/"},
		SystemIndexPermissionEnabled:       g.chance(0.5),
		FilterSecurityIndexFromAllRequests: g.chance(0.3),
		DfmEmptyOverridesAll:               g.chance(0.3),
		RestoreSecurityIndexEnabled:        g.chance(0.2),
	}
	if g.chance(0.3) {
		f := false
		c.s.CheckSnapshotRestoreWritePrivileges = &f
	}
	return c
}

func (g *gen) request() Request {
	req := Request{
		Subject: Subject{
			Name:          g.pick(slices.Concat(genUsers, []string{"ext"})),
			BackendRoles:  g.some(genBackendRoles, 3),
			SecurityRoles: g.some(slices.Concat(genRoleNames, []string{"zz"}), 1),
		},
	}
	if g.chance(0.4) {
		req.Subject.Attributes = map[string]string{"attr.internal.dept": g.pick([]string{"hr", "logs", "t1"})}
	}
	if g.chance(0.3) {
		req.Subject.RequestedTenant = g.pick([]string{"__user__", "t1", "hr", "global_tenant", "nope"})
	}
	if g.chance(0.3) {
		req.Subject.RemoteIP = g.pick([]string{"10.0.0.1", "10.0.0.2"})
	}
	if g.chance(0.2) {
		req.Subject.RemoteHost = "h1.example"
	}
	if g.chance(0.1) {
		req.Tenant = g.pick([]string{"t1", "hr", "__user__", "global_tenant", "", "nope"})
		req.TenantAccess = g.pick([]string{"", "read", "write"})
		if req.Tenant != "" {
			return req
		}
	}
	req.Action = g.pick(genActions)
	if g.chance(0.75) {
		req.Indices = g.some(genIndices, 3)
	}
	req.AllIndices = g.chance(0.1)
	if req.Action == actionBulkShard {
		req.BulkItems = g.some([]string{"index", "create", "update", "delete"}, 3)
	}
	req.CreateWithAliases = g.chance(0.2)
	req.RemovesIndex = g.chance(0.2)
	if g.chance(0.15) {
		req.IndexParents = map[string][]string{"logs-1": {"alias-x"}, "secret": {"logs-99"}}
	}
	req.AdminCert = g.chance(0.03)
	return req
}

// describe renders a request for a failure message.
func describe(req *Request) string {
	return fmt.Sprintf("%+v", *req)
}

// describeConfig renders a configuration as JSON for a failure message.
func describeConfig(c *Config) string {
	b, err := json.Marshal(map[string]any{
		"roles": c.Roles, "roles_mapping": c.RolesMapping, "action_groups": c.ActionGroups,
		"tenants": c.Tenants, "internal_users": c.InternalUsers, "config": c.SecurityConfig,
	})
	if err != nil {
		return err.Error()
	}
	return string(b)
}
