// Package config owns Evara's one typed configuration: which command runs
// and every setting, read from flags and the environment (flags win), with
// working defaults, validated up front so that a bad value is reported with
// all the others before anything starts.
//
// Every setting is declared once, in settings(): its environment names, its
// flag, its usage text and whether it is secret. Load, Validate, the
// `evara config check` listing and the README's configuration table all
// derive from that one list.
//
// A Config is a plain value, safe to copy; Load has no side effects.
package config
