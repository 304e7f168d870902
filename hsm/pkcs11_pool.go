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
	mu    sync.Mutex // serialises re-initialisation
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
	if m.owned {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

// reinitialize calls C_Initialize again after the library reported
// CKR_CRYPTOKI_NOT_INITIALIZED (someone finalised it underneath us).
func (m *module) reinitialize() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx.Initialize(); err != nil && !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("%w: C_Initialize %s: %w", ErrModule, m.path, err)
	}
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

// session is a pooled PKCS#11 session; gen is the pool generation it was opened in.
type session struct {
	h   p11.SessionHandle
	gen uint64
}

// pool is a bounded pool of logged-in read/write sessions on one token. At most size
// sessions exist; callers beyond that wait (or give up with their context).
type pool struct {
	mod   *module
	token string
	pin   []byte
	log   *slog.Logger
	size  int
	sem   chan struct{} // one token per session in use
	idle  chan *session // capacity size
	quit  chan struct{} // closed by close
	mu    sync.Mutex    // guards the fields below
	slot  uint
	gen   uint64 // bumped on every reset; sessions and key handles of older generations are dropped
	stale bool   // the slot must be looked up again before the next C_OpenSession
	done  bool
}

func newPool(mod *module, token string, pin []byte, size int, log *slog.Logger) *pool {
	return &pool{
		mod: mod, token: token, pin: pin, log: log, size: size,
		sem:  make(chan struct{}, size),
		idle: make(chan *session, size),
		quit: make(chan struct{}),
	}
}

// findSlot returns the slot holding the token labelled p.token. p.mu is held.
func (p *pool) findSlot() (uint, error) {
	c := p.mod.ctx
	slots, err := c.GetSlotList(true)
	if isCode(err, p11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		p.log.Warn("pkcs11 library not initialised, initialising again", "module", p.mod.path)
		if err := p.mod.reinitialize(); err != nil {
			return 0, err
		}
		slots, err = c.GetSlotList(true)
	}
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

// open opens and logs in a new session.
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
		return &session{h: h, gen: p.gen}, nil
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
// exist, waiting otherwise.
func (p *pool) get(ctx context.Context) (*session, error) {
	select {
	case p.sem <- struct{}{}:
	case <-p.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("pkcs11: waiting for a session: %w", ctx.Err())
	}
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
// resets the pool.
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
func (p *pool) generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

func (p *pool) closeSession(s *session) {
	_ = p.mod.ctx.CloseSession(s.h)
}

// retryDelays are the pauses before the second and third attempt of an operation that
// failed with a session or token error. A token coming back from a reset (or sessions being
// closed while new ones open) can fail the first retry too; three attempts within about
// 60 ms ride that out without hiding a token that is really gone.
var retryDelays = [...]time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond}

// do runs fn with a pooled session. If fn fails with a session or token error, the pool is
// reset and fn runs again with a fresh, logged-in session (at most len(retryDelays) times
// in all).
func (p *pool) do(ctx context.Context, fn func(s *session) error) error {
	var err error
	for attempt, delay := range retryDelays {
		if attempt > 0 {
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
		var s *session
		s, err = p.get(ctx)
		if err != nil {
			return err
		}
		err = fn(s)
		p.put(s, err)
		if err == nil || !retryable(err) {
			return err
		}
	}
	return err
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
	for {
		select {
		case s := <-p.idle:
			p.closeSession(s)
		default:
			clear(p.pin)
			return
		}
	}
}
