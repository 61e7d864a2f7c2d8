package keystore

// State is what a store can do at the moment. Readiness probes report it
// (the server's /readyz and gRPC health), so that a load balancer can send
// requests for new keys elsewhere while stored keys are still served here.
type State uint8

const (
	// Writable: stored keys are served and new keys are created.
	Writable State = iota
	// ReadOnly: stored keys are served; creations fail with
	// ErrUnavailable (a file that cannot be opened for writing).
	ReadOnly
	// Unreachable: no key is served (a remote store that cannot be
	// reached, a file that could be opened neither way, a closed store).
	Unreachable
)

// String returns "writable", "read-only" or "unreachable".
func (s State) String() string {
	switch s {
	case Writable:
		return "writable"
	case ReadOnly:
		return "read-only"
	case Unreachable:
		return "unreachable"
	}
	return "unknown"
}

// StateReporter is implemented by a store that knows its State. It is
// optional: a store without it is taken to be always Writable, its
// failures showing only as errors of the calls that fail.
type StateReporter interface {
	// State reports the store's state now. Readiness probes call it every
	// few seconds, so it must be cheap and safe for concurrent use. It may
	// take the occasion to recover (reopen for writing when a retry is
	// due): a store that a load balancer sends no creations to, because
	// of the state reported here, must still find its way back.
	State() State
}

// StateOf returns s's own report if s implements StateReporter, else
// Writable.
func StateOf(s Store) State {
	if r, ok := s.(StateReporter); ok {
		return r.State()
	}
	return Writable
}
