// Command ceiling measures what the disk under the spool allows, with no
// SMTP and no relayd: the floor of an accept's latency and the ceiling of
// its rate, for bench/run.sh to set beside relayd's figures.
//
//   - fdatasync: 4 KiB written at offset 0 of a preallocated file, then
//     fdatasync, over and over (a sync that carries data but no file-size
//     change: the cheapest durable write this disk does).
//   - the same into a hole of a sparse file (a new block each time), as
//     bbolt writes into a file it has grown with ftruncate.
//   - one bbolt commit: db.Update putting one value. bbolt syncs twice per
//     commit (the data pages, then the meta page), so this is about two
//     fdatasyncs.
//   - the group-commit ceiling: writers each put one value and wait for
//     its commit, one after the other; one goroutine commits whatever is
//     queued in one db.Update, as spool.commitLoop does. With 20 writers
//     this is the most fsync'd messages per second the storage takes; with
//     1 writer it is 1 / the commit latency.
//
// bbolt is opened with spool.Open's options. It prints one line of
// key=value pairs (latencies in ms, rates in values/s):
//
//	go run ./bench/ceiling --dir /var/tmp
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The spool's limits on one group (spool.maxGroup, spool.maxGroupBytes).
const (
	maxGroup      = 256
	maxGroupBytes = 64 << 20
)

type options struct {
	dir      string
	syncs    int
	commits  int
	count    int
	count1   int
	writers  int
	size     int
	maxPhase time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", os.TempDir(), "directory on the spool's disk (never a tmpfs); a scratch directory is made and removed in it")
	flag.IntVar(&o.syncs, "syncs", 2000, "fdatasyncs of 4 KiB to time")
	flag.IntVar(&o.commits, "commits", 500, "single bbolt commits to time")
	flag.IntVar(&o.count, "count", 20000, "values the group-commit writers put in all")
	flag.IntVar(&o.count1, "count1", 2000, "values the single writer puts")
	flag.IntVar(&o.writers, "writers", 20, "concurrent writers for the group-commit ceiling")
	flag.IntVar(&o.size, "size", 10240, "bytes of each value")
	flag.DurationVar(&o.maxPhase, "max", 60*time.Second, "time bound of each phase (the figures are of what was done)")
	flag.Parse()
	if o.syncs < 1 || o.commits < 1 || o.count < 1 || o.count1 < 1 || o.writers < 1 || o.size < 1 {
		flag.Usage()
		os.Exit(2)
	}
	line, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	fmt.Println(line)
}

func run(o options) (string, error) {
	if err := notTmpfs(o.dir); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(o.dir, "ceiling-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)

	syncs, err := timeFdatasync(filepath.Join(dir, "sync"), o.syncs, o.maxPhase)
	if err != nil {
		return "", fmt.Errorf("fdatasync: %w", err)
	}
	holes, err := timeHoleFdatasync(filepath.Join(dir, "holes"), o.syncs, o.maxPhase)
	if err != nil {
		return "", fmt.Errorf("fdatasync into holes: %w", err)
	}
	commits, err := timeCommits(filepath.Join(dir, "commit.db"), o)
	if err != nil {
		return "", fmt.Errorf("bbolt commit: %w", err)
	}
	g20, err := groupCommit(filepath.Join(dir, "group20.db"), o.writers, o.count, o)
	if err != nil {
		return "", fmt.Errorf("group commit, %d writers: %w", o.writers, err)
	}
	g1, err := groupCommit(filepath.Join(dir, "group1.db"), 1, o.count1, o)
	if err != nil {
		return "", fmt.Errorf("group commit, 1 writer: %w", err)
	}
	return fmt.Sprintf("fsync_n=%d fsync_p50=%s fsync_p99=%s hole_p50=%s hole_p99=%s commit_n=%d commit_p50=%s commit_p99=%s "+
		"group_writers=%d group_n=%d group_rate=%.1f/s group_commits=%d group1_n=%d group1_rate=%.1f/s",
		len(syncs), ms(pct(syncs, 50)), ms(pct(syncs, 99)), ms(pct(holes, 50)), ms(pct(holes, 99)), len(commits), ms(pct(commits, 50)), ms(pct(commits, 99)),
		o.writers, g20.n, g20.rate(), g20.commits, g1.n, g1.rate()), nil
}

// timeFdatasync returns the latency of n write+fdatasync pairs. The file
// is written and synced whole first, so that no sync allocates blocks or
// changes the size (which would make fdatasync write metadata too).
func timeFdatasync(path string, n int, limit time.Duration) ([]time.Duration, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	end := time.Now().Add(limit)
	for i := 0; i < n && time.Now().Before(end); i++ {
		binary.BigEndian.PutUint64(buf, uint64(i)) // a real change each time
		t0 := time.Now()
		if _, err := f.WriteAt(buf, 0); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// timeHoleFdatasync returns the latency of n write+fdatasync pairs, each
// 4 KiB into a hole of a sparse file, as bbolt writes the pages of a file
// it has grown with ftruncate: the sync then also commits the block
// allocation to the file system's journal.
func timeHoleFdatasync(path string, n int, limit time.Duration) ([]time.Duration, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(int64(n) * 8192); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, n)
	end := time.Now().Add(limit)
	for i := 0; i < n && time.Now().Before(end); i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i)*8192); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// openDB opens a bbolt file as spool.Open does.
func openDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         time.Second,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

var bucket = []byte("bodies")

// put stores one value under the bucket's next sequence number, as the
// spool keys bodies by message ID.
func put(tx *bolt.Tx, v []byte) error {
	b := tx.Bucket(bucket)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return b.Put(k[:], v)
}

// timeCommits returns the latency of o.commits db.Updates of one value each.
func timeCommits(path string, o options) ([]time.Duration, error) {
	db, err := openDB(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	v := make([]byte, o.size)
	lat := make([]time.Duration, 0, o.commits)
	end := time.Now().Add(o.maxPhase)
	for i := 0; i < o.commits && time.Now().Before(end); i++ {
		t0 := time.Now()
		if err := db.Update(func(tx *bolt.Tx) error { return put(tx, v) }); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

type groupResult struct {
	n, commits int
	elapsed    time.Duration
}

func (g groupResult) rate() float64 { return float64(g.n) / g.elapsed.Seconds() }

type req struct {
	v    []byte
	done chan error
}

// groupCommit has writers goroutines put count values in all, each
// waiting for its value's commit before the next, through one committing
// goroutine.
func groupCommit(path string, writers, count int, o options) (groupResult, error) {
	db, err := openDB(path)
	if err != nil {
		return groupResult{}, err
	}
	defer db.Close()
	reqs := make(chan *req, maxGroup)
	commits := make(chan int, 1)
	go func() { commits <- commitLoop(db, reqs) }()

	var (
		mu             sync.Mutex
		taken, written int
		firstErr       error
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if taken == count || firstErr != nil {
			return false
		}
		taken++
		return true
	}
	committed := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			written++
		} else if firstErr == nil {
			firstErr = err
		}
	}
	end := time.Now().Add(o.maxPhase)
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			r := &req{v: make([]byte, o.size), done: make(chan error, 1)}
			for time.Now().Before(end) && take() {
				reqs <- r
				committed(<-r.done)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(reqs)
	g := groupResult{n: written, commits: <-commits, elapsed: elapsed}
	return g, firstErr
}

// commitLoop is spool.commitLoop without the spool: it takes whatever is
// queued (up to the spool's limits) and commits it in one transaction,
// with no timer. It returns the number of commits.
func commitLoop(db *bolt.DB, reqs chan *req) int {
	commits := 0
	group := make([]*req, 0, maxGroup)
	for r := range reqs {
		group = append(group[:0], r)
		size := len(r.v)
	drain:
		for len(group) < maxGroup && size < maxGroupBytes {
			select {
			case r, ok := <-reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
				size += len(r.v)
			default:
				break drain
			}
		}
		err := db.Update(func(tx *bolt.Tx) error {
			for _, r := range group {
				if err := put(tx, r.v); err != nil {
					return err
				}
			}
			return nil
		})
		commits++
		for _, r := range group {
			r.done <- err
		}
	}
	return commits
}

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000) }
