package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit. On SQLite every statement goes through one connection and every commit
// waits for an fsync (synchronous=FULL), so synchronous requests committed one by one queue
// behind each other's fsyncs. The committer takes the answered requests that arrive while a
// commit is in progress and writes them together: one transaction, each request inside its
// own savepoint (a request that fails, say a repeated messageID, is rolled back alone), one
// commit and one fsync for all. A request's caller is answered only after that commit
// returned, so nothing is acknowledged before it is durable.
//
// PostgreSQL runs each request's transaction on its own pooled connection instead (the server
// groups concurrent commits itself), except the requests answered with a certificate signed
// here: their ca.issue events are appended under one advisory lock, which would serialise
// their commits one by one; a committer groups them too (Store.issues).

// maxBatch bounds the requests of one group commit.
const maxBatch = 64

// errStoreClosed is returned to requests submitted after Close.
var errStoreClosed = errors.New("store is closed")

// acceptJob is one request waiting for the group commit: an answered one with its
// certificates, or an accepted one with its outbox item.
type acceptJob struct {
	m     *Message
	certs []*Certificate
	out   *OutboxItem
	// linked: out.MessageRowID was set to m's new ID here (undone when the write fails).
	linked bool
	done   chan error
}

// committer runs the group commits of one store.
type committer struct {
	s    *Store
	jobs chan *acceptJob

	mu     sync.RWMutex // held for reading while a job is submitted; Close takes it to stop submissions
	closed bool
	exited chan struct{}

	groups, requests atomic.Uint64 // commits made, requests written by them
}

func newCommitter(s *Store) *committer {
	c := &committer{s: s, jobs: make(chan *acceptJob, maxBatch), exited: make(chan struct{})}
	go c.run()
	return c
}

// submit queues a job and waits until it is committed or has failed. It waits even when ctx
// is cancelled meanwhile: the outcome must be known (ctx only bounds the wait for a place in
// the queue).
func (c *committer) submit(ctx context.Context, j *acceptJob) error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errStoreClosed
	}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	c.mu.RUnlock()
	return <-j.done
}

// close stops taking jobs, lets the queued ones be committed, and waits for the committer.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.jobs)
	}
	c.mu.Unlock()
	<-c.exited
}

func (c *committer) run() {
	defer close(c.exited)
	for first := range c.jobs {
		batch := append(make([]*acceptJob, 0, maxBatch), first)
	gather:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-c.jobs:
				if !ok {
					break gather
				}
				batch = append(batch, j)
			default:
				break gather
			}
		}
		errs := c.s.commitBatch(batch)
		c.groups.Add(1)
		c.requests.Add(uint64(len(batch)))
		for i, j := range batch {
			j.done <- errs[i]
		}
	}
}

// commitBatch writes the jobs in one transaction and returns each job's outcome. With more
// than one job each runs in a savepoint, so that one job's failure leaves the others intact.
// The ca.issue events of the jobs written are appended last, under one lock and one read
// of the chain's head.
// A job that did not end up committed has its row IDs reset.
func (s *Store) commitBatch(batch []*acceptJob) []error {
	db, hot := s.write, s.hot
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, len(batch))
	err := func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }() // after Commit: a no-op
		ch := &issueChain{s: s, hot: hot, tx: tx}
		single := len(batch) == 1
		write := func(j *acceptJob) error {
			if err := hot.insertAccepted(ctx, tx, j); err != nil {
				return err
			}
			return ch.add(j.certs)
		}
		for i, j := range batch {
			if single {
				errs[i] = write(j)
				if errs[i] != nil {
					return nil // nothing to commit
				}
				continue
			}
			if _, err := tx.StmtContext(ctx, hot.savepoint).ExecContext(ctx); err != nil {
				return err
			}
			errs[i] = write(j)
			if errs[i] != nil {
				if _, err := tx.StmtContext(ctx, hot.rollbackToSavepoint).ExecContext(ctx); err != nil {
					return err
				}
			}
			if _, err := tx.StmtContext(ctx, hot.releaseSavepoint).ExecContext(ctx); err != nil {
				return err
			}
		}
		// The events of the certificates written, in the same transaction.
		if err := ch.flush(ctx); err != nil {
			return err
		}
		return tx.Commit()
	}()
	for i, j := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = fmt.Errorf("commit: %w", err)
		}
		if errs[i] != nil {
			j.m.ID = 0
			for _, c := range j.certs {
				c.ID = 0
			}
			if j.out != nil {
				j.out.ID = 0
				if j.linked {
					j.out.MessageRowID = nil
				}
			}
		}
	}
	return errs
}

// GroupCommitStats reports the group commits made since Open and the requests they wrote
// (SQLite; zero on PostgreSQL). Their ratio is the mean group size.
func (s *Store) GroupCommitStats() (groups, requests uint64) {
	if s.commits == nil {
		return 0, 0
	}
	return s.commits.groups.Load(), s.commits.requests.Load()
}
