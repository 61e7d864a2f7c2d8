//go:build !linux

package server

import (
	"errors"
	"net"
)

// setCork is not available here: writeAnswer then writes uncorked.
func setCork(*net.TCPConn, bool) error { return errors.ErrUnsupported }
