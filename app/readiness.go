package app

import (
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/server"
)

// storeReadiness is the server's readiness from the key store's state
// (keystore.StateOf: a store that does not report one is always ready). A
// read-only store still serves stored keys: the server stays healthy but
// is not ready for new keys; an unreachable one serves nothing.
func storeReadiness(st keystore.Store) func() (server.Readiness, string) {
	return func() (server.Readiness, string) {
		switch keystore.StateOf(st) {
		case keystore.ReadOnly:
			return server.ServingExisting, "the key store is read-only: stored keys are served, new keys are refused"
		case keystore.Unreachable:
			return server.NotServing, "the key store is unreachable"
		}
		return server.Ready, ""
	}
}
