package hsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	p11 "github.com/miekg/pkcs11"
)

// A PKCS#11 library is process-global: C_Initialize and C_Finalize act on the whole
// process, and loading the same library twice yields the same instance. modules therefore
// shares one loaded, initialised library per path between keystores, counting references;
// the last Close finalises and unloads it (so a later Open re-reads the library's
// configuration, e.g. SOFTHSM2_CONF). This registry is the package's only global state and
// mirrors the library's own.
var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

// module is one loaded PKCS#11 library.
type module struct {
	path string
	ctx  *p11.Ctx
	refs int // guarded by modules.Mutex
	// owned: this package called C_Initialize (not someone else in the process), so it
	// calls C_Finalize at the end.
	owned bool
	// opMu is held shared by every sequence of calls on sessions and exclusively by
	// restart: C_Finalize while another thread is inside a call crashes some libraries
	// (SoftHSM2 among them).
	opMu sync.RWMutex
	// epoch counts restarts (guarded by opMu). Session handles of an older epoch are dead;
	// they are dropped, never closed, because the library may have reused their numbers.
	epoch     uint64
	destroyed bool // guarded by opMu
}

func acquireModule(path string) (*module, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no module path configured", ErrModule)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModule, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory", ErrModule, path)
	}
	key := path
	if abs, err := filepath.EvalSymlinks(path); err == nil {
		key = abs
	}
	modules.Lock()
	defer modules.Unlock()
	if m, ok := modules.m[key]; ok {
		m.refs++
		return m, nil
	}
	c := p11.New(path)
	if c == nil {
		return nil, fmt.Errorf("%w: cannot load %s (not a shared library or missing dependencies)", ErrModule, path)
	}
	owned := true
	if err := c.Initialize(); err != nil {
		if !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			c.Destroy()
			return nil, fmt.Errorf("%w: C_Initialize %s: %w", ErrModule, path, err)
		}
		owned = false
	}
	m := &module{path: key, ctx: c, refs: 1, owned: owned}
	modules.m[key] = m
	return m, nil
}

func (m *module) release() {
	modules.Lock()
	defer modules.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules.m, m.path)
	m.opMu.Lock() // a pool may be restarting the library
	defer m.opMu.Unlock()
	m.destroyed = true
	if m.owned {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

// restart finalises and initialises the library again, unless another pool did so since
// it saw epoch seen. Some libraries only notice a token that went away and came back
// (SoftHSM2: its token directory renamed away and back) after C_Finalize/C_Initialize; it
// also recovers from someone finalising the library underneath us. A library this package
// did not initialise is not finalised (only initialised if needed).
func (m *module) restart(seen uint64) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.destroyed {
		return ErrClosed
	}
	if m.epoch != seen {
		return nil
	}
	if m.owned {
		_ = m.ctx.Finalize()
	}
	if err := m.ctx.Initialize(); err != nil && !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("%w: C_Initialize %s: %w", ErrModule, m.path, err)
	}
	m.epoch++
	return nil
}

// isCode reports whether err is the PKCS#11 return value code.
func isCode(err error, codes ...uint) bool {
	var e p11.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if uint(e) == c {
			return true
		}
	}
	return false
}

// sessionFatal reports errors after which the session (and, because PKCS#11 login state is
// per token, every other session of the pool) can no longer be trusted: the pool is reset,
// the token looked up again, and a new session logged in.
func sessionFatal(err error) bool {
	return isCode(err,
		p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_DEVICE_REMOVED, p11.CKR_DEVICE_ERROR, p11.CKR_TOKEN_NOT_PRESENT,
		p11.CKR_TOKEN_NOT_RECOGNIZED, p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_SLOT_ID_INVALID,
		p11.CKR_GENERAL_ERROR)
}

// retryable reports errors worth one more attempt with a fresh session (and a fresh key
// handle).
func retryable(err error) bool {
	return sessionFatal(err) || isCode(err, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID)
}

// session is a pooled PKCS#11 session; gen is the pool generation it was opened in,
// epoch the module epoch.
type session struct {
	h     p11.SessionHandle
	gen   uint64
	epoch uint64
}

// DefaultReconnectInterval is the least time between two attempts to reconnect to a lost
// token (PKCS11Config.ReconnectInterval).
const DefaultReconnectInterval = time.Second

// pool is a bounded pool of logged-in read/write sessions on one token. At most size
// sessions exist; callers beyond that wait (or give up with their context).
//
// When the token is lost (an operation fails and the token no longer answers
// C_GetTokenInfo under its label), the pool drops its sessions, and operations fail fast
// with ErrTokenNotFound except for one reconnect attempt per reconnect interval: find the
// slot by token label again, restart the library if the token is still not seen, open a
// session and log in. Signers find their key handles again by CKA_ID afterwards.
type pool struct {
	mod      *module
	token    string
	pin      []byte
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration // least time between reconnect attempts
	size     int
	sem      chan struct{} // one token per session in use
	idle     chan *session // capacity size
	quit     chan struct{} // closed by close
	recMu    sync.Mutex    // serialises reconnects
	mu       sync.Mutex    // guards the fields below
	slot     uint
	gen      uint64 // bumped on every reset; sessions and key handles of older generations are dropped
	epoch    uint64 // module epoch of the sessions of generation gen
	stale    bool   // the slot must be looked up again before the next C_OpenSession
	done     bool
	up       bool      // a session was opened once: later token errors are a loss, not a bad configuration
	lost     bool      // the token is gone; only reconnect attempts touch it
	lostAt   time.Time // when lost was set
	lostErr  error     // what showed the loss
	nextTry  time.Time // no reconnect attempt before
}

func newPool(mod *module, token string, pin []byte, size int, log *slog.Logger, now func() time.Time, interval time.Duration) *pool {
	return &pool{
		mod: mod, token: token, pin: pin, log: log, size: size, now: now, interval: interval,
		sem:  make(chan struct{}, size),
		idle: make(chan *session, size),
		quit: make(chan struct{}),
	}
}

// findSlot returns the slot holding the token labelled p.token. p.mu is held.
func (p *pool) findSlot() (uint, error) {
	c := p.mod.ctx
	slots, err := c.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: C_GetSlotList: %w", ErrModule, err)
	}
	var seen []string
	for _, s := range slots {
		ti, err := c.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		if strings.TrimRight(ti.Label, " \x00") == p.token {
			return s, nil
		}
		seen = append(seen, fmt.Sprintf("%q", ti.Label))
	}
	sort.Strings(seen)
	avail := "none"
	if len(seen) > 0 {
		avail = strings.Join(seen, ", ")
	}
	return 0, fmt.Errorf("%w: no token labelled %q in %s (present: %s)", ErrTokenNotFound, p.token, p.mod.path, avail)
}

// sync starts a new generation if the library was restarted (by this pool or another one
// on the same module) since the pool's sessions were opened. p.mod.opMu is held.
func (p *pool) sync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch != p.mod.epoch {
		p.epoch = p.mod.epoch
		p.gen++
		p.stale = true
	}
}

// open opens and logs in a new session. p.mod.opMu is held.
func (p *pool) open() (*session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil, ErrClosed
	}
	c := p.mod.ctx
	for attempt := 0; ; attempt++ {
		if p.stale {
			slot, err := p.findSlot()
			if err != nil {
				return nil, err
			}
			p.slot, p.stale = slot, false
		}
		h, err := c.OpenSession(p.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
		if err != nil {
			if attempt == 0 && sessionFatal(err) {
				p.stale = true
				continue
			}
			return nil, fmt.Errorf("pkcs11: open session on token %q: %w", p.token, err)
		}
		if err := p.login(h); err != nil {
			_ = c.CloseSession(h)
			if attempt == 0 && sessionFatal(err) {
				p.stale = true
				continue
			}
			return nil, err
		}
		p.up = true
		return &session{h: h, gen: p.gen, epoch: p.epoch}, nil
	}
}

// login logs the token in through h unless it is logged in already. The PIN is never part
// of an error or log message.
func (p *pool) login(h p11.SessionHandle) error {
	c := p.mod.ctx
	if info, err := c.GetSessionInfo(h); err == nil &&
		(info.State == p11.CKS_RW_USER_FUNCTIONS || info.State == p11.CKS_RO_USER_FUNCTIONS) {
		return nil
	}
	err := c.Login(h, p11.CKU_USER, string(p.pin))
	switch {
	case err == nil, isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN):
		return nil
	case isCode(err, p11.CKR_PIN_INCORRECT):
		return fmt.Errorf("%w: token %q rejected the PIN", ErrWrongPIN, p.token)
	case isCode(err, p11.CKR_PIN_LOCKED, p11.CKR_PIN_EXPIRED, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE,
		p11.CKR_USER_PIN_NOT_INITIALIZED, p11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, p11.CKR_USER_TYPE_INVALID):
		return fmt.Errorf("%w: token %q: %w", ErrLogin, p.token, err)
	case sessionFatal(err):
		return err
	}
	return fmt.Errorf("%w: token %q: %w", ErrLogin, p.token, err)
}

// get takes a session from the pool, opening one if none is idle and fewer than size
// exist, waiting otherwise. p.mod.opMu is held.
func (p *pool) get(ctx context.Context) (*session, error) {
	select {
	case p.sem <- struct{}{}:
	case <-p.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("pkcs11: waiting for a session: %w", ctx.Err())
	}
	p.sync()
	for {
		select {
		case s := <-p.idle:
			p.mu.Lock()
			cur, done := p.gen, p.done
			p.mu.Unlock()
			if done {
				p.closeSession(s)
				<-p.sem
				return nil, ErrClosed
			}
			if s.gen != cur {
				p.closeSession(s)
				continue
			}
			return s, nil
		default:
		}
		s, err := p.open()
		if err != nil {
			<-p.sem
			return nil, err
		}
		return s, nil
	}
}

// put returns s to the pool after an operation that ended with err. A session-fatal error
// resets the pool. p.mod.opMu is held.
func (p *pool) put(s *session, err error) {
	defer func() { <-p.sem }()
	if sessionFatal(err) {
		p.reset(s.gen, err)
		p.closeSession(s)
		return
	}
	p.mu.Lock()
	keep := !p.done && s.gen == p.gen
	p.mu.Unlock()
	if !keep {
		p.closeSession(s)
		return
	}
	p.idle <- s // never blocks: at most size sessions exist
}

// reset drops every idle session of generation gen and makes the next open look the token
// up again. Resets triggered by several sessions of the same generation happen once.
// p.mod.opMu is held.
func (p *pool) reset(gen uint64, cause error) {
	p.mu.Lock()
	if gen != p.gen {
		p.mu.Unlock()
		return
	}
	p.gen++
	p.stale = true
	p.mu.Unlock()
	p.log.Warn("pkcs11 token error, reopening sessions", "token", p.token, "err", cause)
	p.drain()
}

// drain closes the idle sessions. p.mod.opMu is held.
func (p *pool) drain() {
	for {
		select {
		case s := <-p.idle:
			p.closeSession(s)
		default:
			return
		}
	}
}

// generation returns the current pool generation.
// moduleEpoch is the library's restart count.
func (p *pool) moduleEpoch() uint64 {
	p.mod.opMu.RLock()
	defer p.mod.opMu.RUnlock()
	return p.mod.epoch
}

func (p *pool) generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// closeSession closes s unless the library has been restarted since it was opened (its
// handle is dead, and its number may belong to a new session by now). p.mod.opMu is held.
func (p *pool) closeSession(s *session) {
	if s.epoch != p.mod.epoch {
		return
	}
	_ = p.mod.ctx.CloseSession(s.h)
}

// retryDelays are the pauses before the second and third attempt of an operation that
// failed with a session or token error. A token coming back from a reset (or sessions being
// closed while new ones open) can fail the first retry too; three attempts within about
// 60 ms ride that out without hiding a token that is really gone.
var retryDelays = [...]time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond}

// do runs fn with a pooled session. If fn fails with a session or token error, the pool is
// reset and fn runs again with a fresh, logged-in session (at most len(retryDelays) times
// in all). If the token turns out to be lost, the pool reconnects first (at most once per
// reconnect interval; in between, do fails at once with ErrTokenNotFound).
func (p *pool) do(ctx context.Context, fn func(s *session) error) error {
	var err error
	lost := false // the last attempt found the token lost: reconnect at once, no pause
	for attempt, delay := range retryDelays {
		if attempt > 0 && !lost {
			p.log.Info("pkcs11 operation failed, retrying with a new session", "token", p.token,
				"attempt", attempt+1, "err", err)
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return fmt.Errorf("%w (giving up: %w)", err, ctx.Err())
				}
			}
		}
		if rerr := p.reconnect(ctx); rerr != nil {
			return rerr
		}
		gen, epoch := p.generation(), p.moduleEpoch()
		err = p.attempt(ctx, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) && !lossHint(err) {
			return err
		}
		// A key that cannot be found or a failing session may mean the token is gone:
		// SoftHSM2, for one, answers C_FindObjects with nothing once its token directory
		// has disappeared. Ask the token.
		if perr := p.probe(); perr != nil {
			if !p.markLost(fmt.Errorf("%w (operation failed with: %w)", perr, err)) {
				return err // never connected: a configuration error, reported as it is
			}
			lost = true
			continue
		}
		lost = false
		if !retryable(err) && p.generation() == gen && p.moduleEpoch() == epoch {
			// The token is fine and was not reset, reconnected or the library restarted
			// meanwhile (which would explain the error): the key is really missing, say.
			return err
		}
	}
	return err
}

// lossHint reports errors that a lost token can cause besides the retryable ones.
func lossHint(err error) bool {
	return errors.Is(err, ErrKeyNotFound) || errors.Is(err, ErrTokenNotFound) || errors.Is(err, ErrModule)
}

// attempt runs fn once with a pooled session.
func (p *pool) attempt(ctx context.Context, fn func(s *session) error) error {
	p.mod.opMu.RLock()
	defer p.mod.opMu.RUnlock()
	if p.mod.destroyed {
		return ErrClosed
	}
	s, err := p.get(ctx)
	if err != nil {
		return err
	}
	err = fn(s)
	p.put(s, err)
	return err
}

// probe checks that the token is still in its slot under its label.
func (p *pool) probe() error {
	p.mod.opMu.RLock()
	defer p.mod.opMu.RUnlock()
	if p.mod.destroyed {
		return ErrClosed
	}
	return p.probeLocked()
}

// probeLocked is probe with p.mod.opMu held.
func (p *pool) probeLocked() error {
	p.mu.Lock()
	slot, epoch := p.slot, p.epoch
	p.mu.Unlock()
	if epoch != p.mod.epoch {
		return nil // restarted since: the next attempt looks the token up again
	}
	ti, err := p.mod.ctx.GetTokenInfo(slot)
	if err != nil {
		return fmt.Errorf("%w: token %q does not answer: %w", ErrTokenNotFound, p.token, err)
	}
	if got := strings.TrimRight(ti.Label, " \x00"); got != p.token || ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
		return fmt.Errorf("%w: slot %d no longer holds token %q", ErrTokenNotFound, slot, p.token)
	}
	return nil
}

// markLost records that the token is gone and drops every session. It returns false if
// the pool never had a session (Open reports such errors itself). The loss is logged once.
func (p *pool) markLost(cause error) bool {
	p.mod.opMu.RLock()
	defer p.mod.opMu.RUnlock()
	p.mu.Lock()
	if !p.up {
		p.mu.Unlock()
		return false
	}
	first := !p.lost
	if first {
		p.lost, p.lostAt, p.lostErr = true, p.now(), cause
		p.nextTry = p.lostAt // the first reconnect attempt is immediate
		p.gen++
		p.stale = true
	}
	p.mu.Unlock()
	if first {
		p.log.Warn("pkcs11 token lost; requests fail until it is back", "token", p.token, "err", cause)
		p.drain()
	}
	return true
}

// errUnavailable describes a lost token to callers.
func (p *pool) errUnavailable(cause error) error {
	p.mu.Lock()
	since, next := p.lostAt, p.nextTry
	p.mu.Unlock()
	wait := max(next.Sub(p.now()), 0)
	// cause is text only: the error wraps one sentinel, ErrTokenNotFound.
	return fmt.Errorf("%w: token %q unavailable since %s, next reconnect attempt in %s: %v",
		ErrTokenNotFound, p.token, since.UTC().Format(time.RFC3339), wait.Round(time.Millisecond), cause)
}

// reconnect does nothing unless the token is lost. Then, at most once per reconnect
// interval, it opens a session on the token again (restarting the library if the token is
// not seen otherwise); in between it fails at once.
func (p *pool) reconnect(ctx context.Context) error {
	p.mu.Lock()
	lost := p.lost
	p.mu.Unlock()
	if !lost {
		return nil
	}
	p.recMu.Lock()
	defer p.recMu.Unlock()
	p.mu.Lock()
	lost, cause, next := p.lost, p.lostErr, p.nextTry
	now := p.now()
	if lost && !now.Before(next) {
		p.nextTry = now.Add(p.interval)
	}
	p.mu.Unlock()
	switch {
	case !lost:
		return nil // another goroutine reconnected
	case now.Before(next):
		return p.errUnavailable(cause)
	}
	check := func(*session) error { return p.probeLocked() }
	p.mod.opMu.RLock()
	epoch := p.mod.epoch
	p.mod.opMu.RUnlock()
	err := p.attempt(ctx, check)
	if err != nil && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
		p.log.Debug("pkcs11 token still not seen, restarting the library", "token", p.token, "err", err)
		if err = p.mod.restart(epoch); err == nil {
			err = p.attempt(ctx, check)
		}
	}
	if err != nil {
		p.mu.Lock()
		p.lostErr = err
		p.mu.Unlock()
		p.log.Debug("pkcs11 reconnect failed", "token", p.token, "err", err)
		return p.errUnavailable(err)
	}
	p.mu.Lock()
	p.lost, p.lostErr = false, nil
	since := p.lostAt
	p.mu.Unlock()
	p.log.Info("pkcs11 token back, reconnected", "token", p.token, "down_for", p.now().Sub(since).String())
	return nil
}

// close waits for sessions in use, then closes every session.
func (p *pool) close() {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	p.done = true
	close(p.quit)
	p.mu.Unlock()
	for i := 0; i < p.size; i++ {
		p.sem <- struct{}{}
	}
	p.mod.opMu.RLock()
	defer p.mod.opMu.RUnlock()
	p.drain()
	clear(p.pin)
}
