package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// sharedDir is /work/shared seen from the package directory of a worktree.
var sharedDir = filepath.Join("..", "..", "shared")

type vectorFile struct {
	Version int      `yaml:"version"`
	Vectors []vector `yaml:"vectors"`
}

type vector struct {
	ID     string `yaml:"id"`
	Rule   string `yaml:"rule"`
	Config struct {
		Static        bool                    `yaml:"static"`
		ActionGroups  map[string]ActionGroup  `yaml:"action_groups"`
		Roles         map[string]Role         `yaml:"roles"`
		RolesMapping  map[string]RoleMapping  `yaml:"roles_mapping"`
		InternalUsers map[string]InternalUser `yaml:"internal_users"`
		Tenants       map[string]Tenant       `yaml:"tenants"`
		Settings      map[string]any          `yaml:"settings"`
		Dynamic       map[string]any          `yaml:"dynamic"`
	} `yaml:"config"`
	Request struct {
		User struct {
			Name            string            `yaml:"name"`
			BackendRoles    []string          `yaml:"backend_roles"`
			SecurityRoles   []string          `yaml:"security_roles"`
			Attributes      map[string]string `yaml:"attributes"`
			RequestedTenant *string           `yaml:"requested_tenant"`
		} `yaml:"user"`
		RemoteAddress string   `yaml:"remote_address"`
		Action        string   `yaml:"action"`
		Indices       []string `yaml:"indices"`
		BulkItems     []string `yaml:"bulk_items"`
		Tenant        string   `yaml:"tenant"`
		TenantAccess  string   `yaml:"tenant_access"`
	} `yaml:"request"`
	Expect struct {
		Allowed          bool                       `yaml:"allowed"`
		Roles            []string                   `yaml:"roles"`
		Reason           *string                    `yaml:"reason"`
		Tenants          map[string]bool            `yaml:"tenants"`
		DLS              map[string]vectorDLS       `yaml:"dls"`
		HasDLS           bool                       `yaml:"-"`
		EffectiveIndices []string                   `yaml:"effective_indices"`
		Extra            map[string]json.RawMessage `yaml:"-"`
	} `yaml:"expect"`
}

type vectorDLS struct {
	Queries      []string `yaml:"queries"`
	FLS          []string `yaml:"fls"`
	MaskedFields []string `yaml:"masked_fields"`
}

// decodeYAMLMap decodes a top-level mapping entry by entry into map[string]T,
// skipping _meta. It never unmarshals the whole document into one Go map.
func decodeYAMLMap[T any](doc *yaml.Node, dst map[string]T) error {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return errors.New("top level is not a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if key == "_meta" {
			continue
		}
		var v T
		if err := n.Content[i+1].Decode(&v); err != nil {
			return err
		}
		dst[key] = v
	}
	return nil
}

func loadYAMLMap[T any](path string, dst map[string]T) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var doc yaml.Node
	if err := yaml.NewDecoder(f).Decode(&doc); err != nil {
		return err
	}
	return decodeYAMLMap(&doc, dst)
}

// vectorsPath is the package's copy of the shared spec's vectors.yaml.
var vectorsPath = filepath.Join("testdata", "vectors.yaml")

func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := yaml.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	// Tell "dls: {}" from an absent key.
	var raw struct {
		Vectors []struct {
			Expect map[string]any `yaml:"expect"`
		} `yaml:"vectors"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for i := range vf.Vectors {
		_, vf.Vectors[i].Expect.HasDLS = raw.Vectors[i].Expect["dls"]
	}
	return vf.Vectors
}

// config builds the vector's configuration and node settings.
func (v *vector) config(t testing.TB) (*Config, Settings) {
	t.Helper()
	cfg := NewConfig()
	maps.Copy(cfg.ActionGroups, v.Config.ActionGroups)
	maps.Copy(cfg.Roles, v.Config.Roles)
	maps.Copy(cfg.RolesMapping, v.Config.RolesMapping)
	maps.Copy(cfg.InternalUsers, v.Config.InternalUsers)
	maps.Copy(cfg.Tenants, v.Config.Tenants)
	if v.Config.Static {
		cfg.AddStatics()
	}
	if v.Config.Dynamic != nil {
		b, err := json.Marshal(map[string]any{"dynamic": v.Config.Dynamic})
		if err != nil {
			t.Fatal(err)
		}
		cfg.SecurityConfig = b
	}
	s, err := ParseSettings(v.Config.Settings)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, s
}

func (v *vector) compile(t testing.TB) *Evaluator {
	t.Helper()
	cfg, s := v.config(t)
	e, err := Compile(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (v *vector) request() *Request {
	u := v.Request.User
	req := &Request{
		Subject: Subject{
			Name:          u.Name,
			BackendRoles:  u.BackendRoles,
			SecurityRoles: u.SecurityRoles,
			Attributes:    u.Attributes,
			RemoteIP:      v.Request.RemoteAddress,
		},
		Action:       v.Request.Action,
		Indices:      v.Request.Indices,
		BulkItems:    v.Request.BulkItems,
		Tenant:       v.Request.Tenant,
		TenantAccess: v.Request.TenantAccess,
	}
	if u.RequestedTenant != nil {
		req.Subject.RequestedTenant = *u.RequestedTenant
	}
	return req
}

// restrictions extracts the vectors' dls shape from a decision.
func restrictions(d *Decision) map[string]vectorDLS {
	out := map[string]vectorDLS{}
	for idx, id := range d.Indices {
		if len(id.DLS)+len(id.FLS)+len(id.MaskedFields) == 0 {
			continue
		}
		out[idx] = vectorDLS{Queries: id.DLS, FLS: id.FLS, MaskedFields: id.MaskedFields}
	}
	return out
}

func TestVectors(t *testing.T) {
	vectors := loadVectors(t)
	if len(vectors) != 147 {
		t.Errorf("got %d vectors, want 147", len(vectors))
	}
	for i := range vectors {
		v := &vectors[i]
		t.Run(v.ID, func(t *testing.T) { checkVector(t, v, v.compile(t)) })
	}
}

// TestVectorsCopyCurrent checks that testdata/vectors.yaml is the shared
// spec's file when ../shared is present: the copy must be refreshed when the
// spec changes.
func TestVectorsCopyCurrent(t *testing.T) {
	shared, err := os.ReadFile(filepath.Join(sharedDir, "spec", "vectors.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("shared spec not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	local, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, local) {
		t.Errorf("%s differs from the shared spec's vectors.yaml: copy it again", vectorsPath)
	}
}

// checkVector decides the vector's request with e through every decision
// path (Evaluate, EvaluateInto with a reused Decision, the role-by-role
// path, explain, MappedRoles, HasIndexPrivilege where it applies) and checks
// the expectation.
func checkVector(t *testing.T, v *vector, e *Evaluator) {
	t.Helper()
	req := v.request()
	d := e.Evaluate(req)
	if d.Allowed != v.Expect.Allowed {
		t.Errorf("allowed = %v, want %v (reason %q)\nrule: %s", d.Allowed, v.Expect.Allowed, d.Reason, v.Rule)
	}
	want := v.Expect.Roles
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(d.Roles, want) && !(len(d.Roles) == 0 && len(want) == 0) {
		t.Errorf("roles = %q, want %q", d.Roles, want)
	}
	if v.Expect.Reason != nil && d.Reason != *v.Expect.Reason {
		t.Errorf("reason = %q\nwant     %q", d.Reason, *v.Expect.Reason)
	}
	if v.Expect.Tenants != nil && !mapsEqual(d.Tenants, v.Expect.Tenants) {
		t.Errorf("tenants = %v, want %v", d.Tenants, v.Expect.Tenants)
	}
	if v.Expect.HasDLS {
		got := restrictions(&d)
		if !dlsEqual(got, v.Expect.DLS) {
			t.Errorf("dls = %+v, want %+v", got, v.Expect.DLS)
		}
	}
	if v.Expect.EffectiveIndices != nil && !slices.Equal(d.EffectiveIndices, v.Expect.EffectiveIndices) {
		t.Errorf("effective_indices = %q, want %q", d.EffectiveIndices, v.Expect.EffectiveIndices)
	}
	// Every other path must reach the same decision.
	var reused Decision
	e.EvaluateInto(&Request{Subject: Subject{Name: "other"}, Action: "indices:data/read/search", Indices: []string{"a", "b"}}, &reused)
	e.EvaluateInto(req, &reused)
	if diff := sameDecision(&d, &reused); diff != "" {
		t.Errorf("EvaluateInto with a reused Decision differs:%s", diff)
	}
	slow := *e
	slow.slowPath = true
	if ds := slow.Evaluate(req); sameDecision(&d, &ds) != "" {
		t.Errorf("role-by-role path differs:%s", sameDecision(&d, &ds))
	}
	rx := *req
	rx.Explain = true
	if dx := e.Evaluate(&rx); dx.Explain == nil || sameDecision(&d, &dx) != "" {
		t.Errorf("explain changed the decision:%s", sameDecision(&d, &dx))
	}
	if mr := e.MappedRoles(&req.Subject); !slices.Equal(mr, d.Roles) {
		t.Errorf("MappedRoles = %q, decision roles %q", mr, d.Roles)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func dlsEqual(a, b map[string]vectorDLS) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !slices.Equal(x.Queries, y.Queries) || !slices.Equal(x.FLS, y.FLS) || !slices.Equal(x.MaskedFields, y.MaskedFields) {
			return false
		}
	}
	return true
}
