// Package workload loads and runs decision benchmark workloads: a directory of
// OpenSearch Security YAML plus requests.jsonl, the format of the repository's
// shared/bench/README.md (one {"user", "backend_roles", "action", "indices",
// "expect"} object per line). Run compiles the configuration, checks every
// decision against its expectation, and measures per-decision latency.
//
// It owns no authorization rule: decisions come from authz.Evaluator. Its
// callers are `authzctl bench` and the benchmarks of package authz.
package workload
