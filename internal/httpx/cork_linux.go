package httpx

import (
	"net"

	"golang.org/x/sys/unix"
)

// setCork sets or clears TCP_CORK on c: while set, the kernel sends only
// full segments of what is written (tcp(7)); clearing it sends the rest.
func setCork(c *net.TCPConn, on bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v)
	}); err != nil {
		return err
	}
	return serr
}
