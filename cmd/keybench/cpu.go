package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100
// on every Linux ABI).
const userHZ = 100

// processCPU returns the user and system CPU time process pid has used,
// from /proc/<pid>/stat (utime and stime, fields 14 and 15).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// hostCPU returns the machine's CPU time in all (the sum of the first
// eight fields of /proc/stat's "cpu" line: user to steal) and the part of
// it that was stolen: time a virtual CPU was ready to run while the
// hypervisor ran something else.
func hostCPU() (total, steal int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: no cpu line with 8 times: %q", line)
	}
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i == 7 {
			steal = n
		}
	}
	return total, steal, nil
}

// cpuMeter measures the CPU time the server (when its pid is known) and
// keybench itself use over a phase, and the host's steal time.
type cpuMeter struct {
	pid                int
	server, client     time.Duration
	serverOK           bool
	hostTotal, hostStl int64
	hostOK             bool
}

func startCPU(pid int) cpuMeter {
	m := cpuMeter{pid: pid}
	var err error
	m.hostTotal, m.hostStl, err = hostCPU()
	m.hostOK = err == nil
	if pid > 0 {
		m.server, err = processCPU(pid)
		m.serverOK = err == nil
	}
	m.client, _ = processCPU(os.Getpid())
	return m
}

// stealPct returns the share of the host's CPU time stolen by the
// hypervisor since startCPU, in percent, or -1 when unknown (not Linux,
// or no tick passed).
func (m cpuMeter) stealPct() float64 {
	if !m.hostOK {
		return -1
	}
	total, steal, err := hostCPU()
	if err != nil || total <= m.hostTotal {
		return -1
	}
	return 100 * float64(steal-m.hostStl) / float64(total-m.hostTotal)
}

// stop returns the server's and keybench's CPU time since startCPU; the
// server's is negative when unknown.
func (m cpuMeter) stop() (server, client time.Duration) {
	server = -1
	if m.serverOK {
		if s, err := processCPU(m.pid); err == nil {
			server = s - m.server
		}
	}
	if c, err := processCPU(os.Getpid()); err == nil {
		client = c - m.client
	}
	return server, client
}
