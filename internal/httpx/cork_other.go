//go:build !linux

package httpx

import (
	"errors"
	"net"
)

// setCork is not available here: WriteAnswer then writes uncorked.
func setCork(*net.TCPConn, bool) error { return errors.ErrUnsupported }
