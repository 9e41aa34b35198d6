// Package app is Evara's composition root: for each command it builds the
// components (HTTP server, simulator, and later the store, caches, actor
// system and cluster), runs them under one errgroup and shuts them down in
// order. Only cmd/evara imports it.
package app
