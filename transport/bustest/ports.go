package bustest

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address whose port is free now and stays this
// test process's until it exits, so a test may give it to a server that binds
// it later (NATS route ports must be known to every server before any starts,
// and nats-server cannot take a listener) and bind it again on restart.
//
// A port from bind(":0") is not safe for that: once closed, the kernel hands it
// to the next bind(":0") or outgoing connection of any process, and go test runs
// packages in parallel (CI saw a NATS route fail with "address already in use").
// So FreeAddr picks ports below the kernel's ephemeral range, which neither of
// those use, and holds an flock on a per-port file in the temp dir so that
// concurrent test processes never pick the same one.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := reservePort()
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	return addr
}

var ports struct {
	sync.Mutex
	held  map[int]*os.File // the locks, open until the process exits
	first int              // the lowest port reservePort picks
	span  int
}

func reservePort() (string, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.held == nil {
		ports.held = map[int]*os.File{}
		low := ephemeralLow()
		ports.first = max(low-12000, 1024)
		ports.span = low - ports.first
	}
	dir := filepath.Join(os.TempDir(), "authzd-test-ports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var last error
	for range 500 {
		p := ports.first + rand.IntN(ports.span)
		if ports.held[p] != nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return "", err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // another test process holds it
			last = err
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			f.Close() // something outside the tests listens there
			last = err
			continue
		}
		ln.Close()
		ports.held[p] = f
		return addr, nil
	}
	return "", last
}

// ephemeralLow is the first port of Linux's ip_local_port_range, where
// bind(":0") and outgoing connections take their ports.
func ephemeralLow() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return fallback
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 2048 {
		return fallback
	}
	return low
}
