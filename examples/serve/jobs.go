package main

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/valora-go/valora/lora"
)

// Job states.
const (
	statusQueued    = "queued"
	statusRunning   = "running"
	statusDone      = "done"
	statusFailed    = "failed"
	statusCancelled = "cancelled"
)

// jobAdapterPrefix starts the name under which a finished job's adapter is registered
// ("job-1" for job 1).
const jobAdapterPrefix = "job-"

// maxEndedJobs is the number of ended jobs GET /jobs/{id} still knows; older ones are
// forgotten (their adapters stay registered).
const maxEndedJobs = 1000

// trainFunc trains an adapter (backend.train).
type trainFunc func(ctx context.Context, spec *trainSpec, onStep func(step, total int, loss float64)) (*lora.Adapter, error)

// jobs runs fine-tuning jobs one at a time, in submission order, on one worker goroutine.
type jobs struct {
	train    trainFunc
	register func(name, source string, a *lora.Adapter) // called before a job is marked done
	max      int

	ctx  context.Context // parent of every job's context; cancelled by Close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	byID   map[string]*job
	next   int
	active int      // queued or running
	ended  []string // ids of the jobs that ended, oldest first (at most maxEndedJobs kept)
	closed bool
	queue  chan *job
}

// job is one fine-tuning run. Its state fields are guarded by jobs.mu.
type job struct {
	id     string
	spec   *trainSpec
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the job has stopped, whatever its end

	status      string
	step, steps int
	loss        float64 // NaN before the first step
	adapter     string
	err         string
}

// jobView is a job as the API shows it.
type jobView struct {
	ID      string   `json:"id"`
	Status  string   `json:"status"`
	Step    int      `json:"step"`
	Steps   int      `json:"steps,omitempty"`
	Loss    *float64 `json:"loss,omitempty"` // training loss of the last step reported
	Adapter string   `json:"adapter,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func newJobs(maxActive int, train trainFunc, register func(name, source string, a *lora.Adapter)) *jobs {
	ctx, stop := context.WithCancel(context.Background())
	r := &jobs{train: train, register: register, max: maxActive, ctx: ctx, stop: stop,
		byID: map[string]*job{}, queue: make(chan *job, maxActive)}
	r.wg.Add(1)
	go r.worker()
	return r
}

// Submit queues a job and returns its id; 503 when MaxJobs jobs are queued or running.
func (r *jobs) Submit(spec *trainSpec) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return "", errorf(http.StatusServiceUnavailable, "server shutting down")
	}
	if r.active >= r.max {
		return "", errorf(http.StatusServiceUnavailable, "%d fine-tuning jobs queued or running, at most %d", r.active, r.max)
	}
	r.next++
	ctx, cancel := context.WithCancel(r.ctx)
	j := &job{id: strconv.Itoa(r.next), spec: spec, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		status: statusQueued, loss: math.NaN()}
	r.byID[j.id] = j
	r.active++
	r.queue <- j // never blocks: the queue holds up to max jobs and active <= max
	return j.id, nil
}

// View returns the state of job id.
func (r *jobs) View(id string) (jobView, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.byID[id]
	if !ok {
		return jobView{}, false
	}
	return j.view(), true
}

func (j *job) view() jobView {
	v := jobView{ID: j.id, Status: j.status, Step: j.step, Steps: j.steps, Adapter: j.adapter, Error: j.err}
	if !math.IsNaN(j.loss) && !math.IsInf(j.loss, 0) {
		loss := j.loss
		v.Loss = &loss
	}
	return v
}

// Cancel cancels job id and waits until it has stopped or ctx ends; it returns the job's state
// then. 404 for an unknown job, 409 for one that had already finished.
func (r *jobs) Cancel(ctx context.Context, id string) (jobView, error) {
	r.mu.Lock()
	j, ok := r.byID[id]
	if !ok {
		r.mu.Unlock()
		return jobView{}, errorf(http.StatusNotFound, "no job %q", id)
	}
	if j.status == statusDone || j.status == statusFailed {
		v := j.view()
		r.mu.Unlock()
		return v, errorf(http.StatusConflict, "job %s has already finished (%s)", id, j.status)
	}
	if j.status == statusQueued { // the worker will skip it
		r.finish(j, statusCancelled, "")
	}
	r.mu.Unlock()
	j.cancel()
	select {
	case <-j.done:
	case <-ctx.Done():
	}
	v, _ := r.View(id)
	return v, nil
}

// Close cancels every job, refuses new ones and waits for the worker to stop.
func (r *jobs) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		r.stop()
		close(r.queue)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *jobs) worker() {
	defer r.wg.Done()
	for j := range r.queue {
		r.run(j)
	}
}

func (r *jobs) run(j *job) {
	defer j.cancel()
	r.mu.Lock()
	if j.status != statusQueued { // cancelled while queued
		r.mu.Unlock()
		return
	}
	if j.ctx.Err() != nil {
		r.finish(j, statusCancelled, "")
		r.mu.Unlock()
		return
	}
	j.status = statusRunning
	r.mu.Unlock()

	a, err := r.train(j.ctx, j.spec, func(step, total int, loss float64) {
		r.mu.Lock()
		j.step, j.steps = step, total
		if !math.IsNaN(loss) {
			j.loss = loss
		}
		r.mu.Unlock()
	})
	name := ""
	if err == nil {
		name = jobAdapterPrefix + j.id
		r.register(name, "job "+j.id, a)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		j.adapter = name
		r.finish(j, statusDone, "")
	case j.ctx.Err() != nil && errors.Is(err, j.ctx.Err()):
		r.finish(j, statusCancelled, "")
	default:
		r.finish(j, statusFailed, err.Error())
	}
}

// finish records the end of j; r.mu is held.
func (r *jobs) finish(j *job, status, msg string) {
	j.status, j.err = status, msg
	j.spec = nil // the encoded rows are no longer needed
	r.active--
	close(j.done)
	r.ended = append(r.ended, j.id)
	if len(r.ended) > maxEndedJobs {
		delete(r.byID, r.ended[0])
		r.ended = r.ended[1:]
	}
}
