package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"eacgate/hsm"
)

// Country and DV of the spawned gateways.
const (
	spawnCountry = "UT"
	spawnCVCA    = "UTCVCA00001"
	spawnDVMnem  = "DVLOAD"
	spawnDV      = "UTDVLOAD00001"
)

// setup is a temporary gateway installation: configuration, keys and database.
type setup struct {
	dir, config, data, dsn, bin string
	keys                        hsm.Config // the keystore as the gateways see it
	procs                       []*gatewayProc
}

// findEacgate returns the eacgate binary: the flag, a binary beside this program, or PATH.
func findEacgate(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "eacgate")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("eacgate")
	if err != nil {
		return "", errors.New("no eacgate binary: build it (make build) and pass --eacgate bin/eacgate")
	}
	return p, nil
}

// newSetup writes the configuration and creates the CVCA and the DV with eacgate init.
func newSetup(ctx context.Context, cfg config, log *slog.Logger) (*setup, error) {
	bin, err := findEacgate(cfg.eacgate)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "eacgate-load-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &setup{dir: dir, config: filepath.Join(dir, "eacgate.yaml"), data: filepath.Join(dir, "data"), bin: bin, dsn: cfg.db}
	if s.dsn == "" {
		s.dsn = filepath.Join(s.data, "eacgate.db")
	}
	var ks string
	switch cfg.keystore {
	case "soft":
		pass := filepath.Join(dir, "keystore.pass")
		if err := os.WriteFile(pass, []byte("eacgate-load throwaway keystore\n"), 0o600); err != nil {
			s.close(log, false)
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		s.keys = hsm.Config{Backend: "soft", Soft: hsm.SoftConfig{Dir: filepath.Join(dir, "keys"), Passphrase: hsm.Secret{File: pass}}}
		ks = fmt.Sprintf("  backend: soft\n  soft:\n    dir: %s\n    passphrase: {file: %s}\n", s.keys.Soft.Dir, pass)
	case "pkcs11":
		s.keys = hsm.Config{Backend: "pkcs11", PKCS11: hsm.PKCS11Config{ModulePath: cfg.module, TokenLabel: cfg.token, PIN: hsm.Secret{Env: cfg.pinEnv}}}
		ks = fmt.Sprintf("  backend: pkcs11\n  pkcs11:\n    module: %s\n    token: %s\n    pin: {env: %s}\n", cfg.module, cfg.token, cfg.pinEnv)
	}
	yaml := fmt.Sprintf("data: %s\ndb: %q\ncountry: %s\ndv_mnemonic: %s\nkeystore:\n%s", s.data, s.dsn, spawnCountry, spawnDVMnem, ks)
	if err := os.WriteFile(s.config, []byte(yaml), 0o600); err != nil {
		s.close(log, false)
		return nil, fmt.Errorf("config: %w", err)
	}
	for _, args := range [][]string{
		{"init", "cvca", "--config", s.config, "--chr", spawnCVCA, "--alg", "ECDSA_SHA_256", "--curve", cfg.curve},
		{"init", "dv", "--config", s.config, "--chr", spawnDV},
	} {
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			s.close(log, false)
			return nil, fmt.Errorf("eacgate %s: %w\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
	return s, nil
}

// gatewayProc is one running eacgate serve.
type gatewayProc struct {
	cmd    *exec.Cmd
	base   string // https://127.0.0.1:PORT
	stderr *lockedBuffer
	done   chan error
}

var dvEndpoint = regexp.MustCompile(`DV endpoint \(for terminals\):\s+(https://\S+)/dv\s`)

// start runs eacgate serve with the setup's configuration on a free loopback port and waits
// for it to print its DV endpoint.
func (s *setup) start(ctx context.Context) (*gatewayProc, error) {
	cmd := exec.Command(s.bin, "serve", "--config", s.config, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &gatewayProc{cmd: cmd, stderr: &lockedBuffer{limit: 1 << 20}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start eacgate serve: %w", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := dvEndpoint.FindStringSubmatch(sc.Text() + " "); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.base = <-found:
		s.procs = append(s.procs, p)
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("eacgate serve exited (%v):\n%s", err, p.stderr.String())
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	<-p.done
	return nil, fmt.Errorf("eacgate serve did not print its DV endpoint:\n%s", p.stderr.String())
}

// stop sends SIGTERM and waits (SIGKILL after 30 s).
func (p *gatewayProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("eacgate serve did not stop within 30 s of SIGTERM")
	}
}

// close stops the gateways and removes the directory (unless keep).
func (s *setup) close(log *slog.Logger, keep bool) {
	for _, p := range s.procs {
		if err := p.stop(); err != nil {
			log.Warn("gateway stop", "pid", p.cmd.Process.Pid, "err", err)
		}
	}
	s.procs = nil
	if keep {
		log.Info("kept the gateway directory", "dir", s.dir)
		return
	}
	_ = os.RemoveAll(s.dir)
}

// rssBytes reads VmRSS of a process from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("rss: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("rss: unexpected line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rss: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("rss: no VmRSS in /proc status")
}

// lockedBuffer collects a child's stderr (bounded: the first limit bytes).
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
