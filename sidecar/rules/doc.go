// Package rules loads rules written in Suricata's rule language (the subset
// that fits a sidecar: names, hosts, URLs, fingerprints, addresses and
// simple content on sidewatch's app-layer metadata) and matches them against
// sidewatch's events, raising EVE alerts with each rule's own sid, msg,
// classtype and severity. A rule outside the subset is skipped with the
// first keyword that put it there; it is never half-applied.
//
// Matching cost per event does not grow with the number of rules: each rule
// is indexed under one literal of one buffer (an exact-value map or an
// Aho-Corasick automaton per buffer) or, for IP-only rules, under the
// addresses of its header, and only the rules an event hits are verified.
package rules
