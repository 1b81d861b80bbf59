// Package e2e holds the container tests of authzd, behind the e2e build tag
// (`make e2e`): they build the FROM scratch image from the static binary, start
// three containers on private Docker networks the test creates, and run the
// fault scenario of node/nodetest/history against them while a seeded nemesis
// disconnects the leader from the Raft network, kills nodes with SIGKILL,
// restarts every node one by one and pauses nodes. Without the tag the package
// is this file only; docs/testing.md says how to run and replay it.
package e2e
