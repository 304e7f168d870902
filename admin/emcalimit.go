package admin

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// EMCAOptions bound the cost of the emCA endpoints' password checks: every Argon2id check
// takes 64 MiB for a moment, so their number at once is capped, and a client that keeps
// failing authentication is locked out for a while without any check being run. Zero
// values are the defaults.
type EMCAOptions struct {
	// PasswordChecks is how many password checks may run at once (default 2).
	PasswordChecks int `yaml:"password_checks"`
	// PasswordWait is how long a request waits for its turn before it is answered 503 with
	// the result "Service busy" (default 5s).
	PasswordWait time.Duration `yaml:"password_wait"`
	// LockoutFailures authentication failures of one client (emKey) within LockoutWindow
	// lock it out for LockoutDuration (defaults 5, 15m, 15m). The state is kept in memory,
	// per process; every lockout is audited (emca.lockout).
	LockoutFailures int           `yaml:"lockout_failures"`
	LockoutWindow   time.Duration `yaml:"lockout_window"`
	LockoutDuration time.Duration `yaml:"lockout_duration"`
}

func (o EMCAOptions) withDefaults() EMCAOptions {
	if o.PasswordChecks <= 0 {
		o.PasswordChecks = 2
	}
	if o.PasswordWait <= 0 {
		o.PasswordWait = 5 * time.Second
	}
	if o.LockoutFailures <= 0 {
		o.LockoutFailures = 5
	}
	if o.LockoutWindow <= 0 {
		o.LockoutWindow = 15 * time.Minute
	}
	if o.LockoutDuration <= 0 {
		o.LockoutDuration = 15 * time.Minute
	}
	return o
}

const (
	// maxTrackedClients bounds the failure table. Only registered clients (a known emKey,
	// from an allowed address) get an entry, so it is reached only with that many clients
	// failing at once; then the entries with nothing current are dropped first.
	maxTrackedClients = 4096
	// freeMemoryEvery rate-limits returning the checks' memory to the OS.
	freeMemoryEvery = 10 * time.Second
)

// errBusy: no password check slot became free within PasswordWait.
var errBusy = errors.New("password checks busy")

// emcaLimits is the state of the emCA endpoints of one Handler: the check slots, the
// per-client failures, and when memory was last returned.
type emcaLimits struct {
	opts EMCAOptions
	now  func() time.Time
	// slots holds one token per running password check.
	slots chan struct{}
	// waiting counts requests waiting for a slot (tests synchronise on it).
	waiting atomic.Int32
	// freeMemory returns freed memory to the OS (debug.FreeOSMemory).
	freeMemory func()

	mu       sync.Mutex
	clients  map[string]*clientFailures
	running  int
	lastFree time.Time
}

// clientFailures are one client's recent authentication failures and its lockout.
type clientFailures struct {
	failures    []time.Time // within the window, oldest first
	lockedUntil time.Time
}

func newEMCALimits(opts EMCAOptions, now func() time.Time) *emcaLimits {
	opts = opts.withDefaults()
	return &emcaLimits{opts: opts, now: now, slots: make(chan struct{}, opts.PasswordChecks),
		freeMemory: debug.FreeOSMemory, clients: map[string]*clientFailures{}}
}

// acquire waits for a password check slot, at most PasswordWait and while ctx lasts.
func (l *emcaLimits) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
	default:
		l.waiting.Add(1)
		defer l.waiting.Add(-1)
		wctx, cancel := context.WithTimeout(ctx, l.opts.PasswordWait)
		defer cancel()
		select {
		case l.slots <- struct{}{}:
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return err
			}
			return errBusy
		}
	}
	l.mu.Lock()
	l.running++
	l.mu.Unlock()
	return nil
}

// release frees a slot. When the last check of a burst ends, the Argon2id memory (64 MiB
// per check) is returned to the OS, at most once per freeMemoryEvery: the Go runtime would
// otherwise keep it mapped for minutes (RSS stayed ~420 MiB after a few calls), and argon2
// allocates its own memory per call, so there is no buffer to reuse. FreeOSMemory runs a
// full collection, hence the rate limit and the separate goroutine.
func (l *emcaLimits) release() {
	l.mu.Lock()
	l.running--
	free := l.running == 0 && l.now().Sub(l.lastFree) >= freeMemoryEvery
	if free {
		l.lastFree = l.now()
	}
	l.mu.Unlock()
	<-l.slots
	if free {
		go l.freeMemory()
	}
}

// lockedUntil returns when the client's lockout ends, or the zero time if it is not locked.
func (l *emcaLimits) lockedUntil(client string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.clients[client]; c != nil && l.now().Before(c.lockedUntil) {
		return c.lockedUntil
	}
	return time.Time{}
}

// fail records an authentication failure of the client. It returns the end of the lockout
// this failure starts (zero: none starts).
func (l *emcaLimits) fail(client string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c := l.clients[client]
	if c == nil {
		l.makeRoom(now)
		c = &clientFailures{}
		l.clients[client] = c
	}
	if now.Before(c.lockedUntil) {
		return time.Time{} // already locked (a check that was queued before the lockout)
	}
	c.failures = recent(append(c.failures, now), now.Add(-l.opts.LockoutWindow))
	if len(c.failures) < l.opts.LockoutFailures {
		return time.Time{}
	}
	c.failures = nil
	c.lockedUntil = now.Add(l.opts.LockoutDuration)
	return c.lockedUntil
}

// succeed forgets the client's failures.
func (l *emcaLimits) succeed(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.clients[client]; c != nil && !l.now().Before(c.lockedUntil) {
		delete(l.clients, client)
	}
}

// recent drops the times before since (ts is in order).
func recent(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}

// makeRoom keeps the table under maxTrackedClients: entries neither locked nor holding a
// failure within the window go first, then (all being current) the one whose lockout ends
// or whose failures started earliest.
func (l *emcaLimits) makeRoom(now time.Time) {
	if len(l.clients) < maxTrackedClients {
		return
	}
	since := now.Add(-l.opts.LockoutWindow)
	for k, c := range l.clients {
		if !now.Before(c.lockedUntil) && len(recent(c.failures, since)) == 0 {
			delete(l.clients, k)
		}
	}
	for len(l.clients) >= maxTrackedClients {
		var oldest string
		var at time.Time
		for k, c := range l.clients {
			t := c.lockedUntil
			if len(c.failures) > 0 && c.failures[0].After(t) {
				t = c.failures[0]
			}
			if oldest == "" || t.Before(at) {
				oldest, at = k, t
			}
		}
		delete(l.clients, oldest)
	}
}
