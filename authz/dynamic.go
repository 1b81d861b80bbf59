package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// dynamicConfig holds the config.yml `config.dynamic` keys that change
// decisions (R-MOD-8), defaults applied.
type dynamicConfig struct {
	DoNotFailOnForbidden      bool
	DoNotFailOnForbiddenEmpty bool
	HostsResolverMode         string
	FilteredAliasMode         string
	MultitenancyEnabled       bool
	PrivateTenantEnabled      bool
	DefaultTenant             string
	ServerUsername            string
	KibanaIndex               string
}

type dynamicKibanaJSON struct {
	MultitenancyEnabled  *bool   `json:"multitenancy_enabled"`
	PrivateTenantEnabled *bool   `json:"private_tenant_enabled"`
	DefaultTenant        *string `json:"default_tenant"`
	ServerUsername       *string `json:"server_username"`
	Index                *string `json:"index"`
}

type dynamicJSON struct {
	DoNotFailOnForbidden      *bool              `json:"do_not_fail_on_forbidden"`
	DoNotFailOnForbiddenEmpty *bool              `json:"do_not_fail_on_forbidden_empty"`
	HostsResolverMode         *string            `json:"hosts_resolver_mode"`
	FilteredAliasMode         *string            `json:"filtered_alias_mode"`
	Kibana                    *dynamicKibanaJSON `json:"kibana"`
	Dashboards                *dynamicKibanaJSON `json:"opensearch-dashboards"`
}

// parseDynamicConfig reads config.yml's `config` object ({"dynamic":{...}}).
// nil or empty means all defaults. `opensearch-dashboards` is accepted as an
// alias of `kibana`, which wins when both are present (§13.5).
func parseDynamicConfig(raw json.RawMessage) (dynamicConfig, error) {
	d := dynamicConfig{
		HostsResolverMode:    "ip-only",
		FilteredAliasMode:    "warn",
		MultitenancyEnabled:  true,
		PrivateTenantEnabled: true,
		ServerUsername:       "kibanaserver",
		KibanaIndex:          ".kibana",
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return d, nil
	}
	var doc struct {
		Dynamic *dynamicJSON `json:"dynamic"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return d, fmt.Errorf("parse security config: %w", err)
	}
	if doc.Dynamic == nil {
		return d, nil
	}
	v := doc.Dynamic
	setB := func(dst *bool, p *bool) {
		if p != nil {
			*dst = *p
		}
	}
	setS := func(dst *string, p *string) {
		if p != nil {
			*dst = *p
		}
	}
	setB(&d.DoNotFailOnForbidden, v.DoNotFailOnForbidden)
	setB(&d.DoNotFailOnForbiddenEmpty, v.DoNotFailOnForbiddenEmpty)
	setS(&d.HostsResolverMode, v.HostsResolverMode)
	setS(&d.FilteredAliasMode, v.FilteredAliasMode)
	for _, k := range []*dynamicKibanaJSON{v.Dashboards, v.Kibana} {
		if k == nil {
			continue
		}
		setB(&d.MultitenancyEnabled, k.MultitenancyEnabled)
		setB(&d.PrivateTenantEnabled, k.PrivateTenantEnabled)
		setS(&d.DefaultTenant, k.DefaultTenant)
		setS(&d.ServerUsername, k.ServerUsername)
		setS(&d.KibanaIndex, k.Index)
	}
	return d, nil
}
