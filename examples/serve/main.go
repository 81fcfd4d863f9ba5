// Command serve is an HTTP JSON service over one loaded model: candidate scoring, PEFT LoRA
// adapters, background fine-tuning jobs and value profiles.
//
//	go run ./examples/serve -model testdata/stories260k -addr 127.0.0.1:8080
//
// Endpoints (request and response bodies are JSON; errors are {"error": "..."} with a 4xx or
// 5xx status):
//
//	POST   /score           {"prompt", "candidates", "prefix"?, "adapter"?, "chat"?} -> {"probs": {candidate: p}}
//	GET    /adapters        -> {"adapters": [{"name", "source", "rank", "alpha", "params"}]}
//	POST   /adapters/{name} {"dir"} loads the PEFT adapter in directory dir (on the server)
//	DELETE /adapters/{name} forgets an adapter
//	POST   /finetune        {"rows": [{"prompt", "answer", "prefix"?}], "rank"?, "alpha"?, "epochs"?, "lr"?, "chat"?, "seed"?} -> {"job": id}
//	GET    /jobs/{id}       -> {"id", "status", "step", "steps", "loss", "adapter", "error"}
//	DELETE /jobs/{id}       cancels a queued or running job
//	POST   /profile         {"adapter"?, "chat"?, "values"?, "items"?, "splits"?, "tasks"?, "templates"?} -> the survey profile
//
// /score gives the probabilities examples/score prints for the same input: the candidates'
// log-probabilities after the prompt (and prefix), normalised over the candidates. "adapter"
// names a loaded adapter or a finished job's ("job-1"); "chat" wraps the prompt in the
// model's chat template (thinking off).
//
// /finetune trains a new LoRA adapter on the rows in the background, one job at a time, with
// examples/finetune's defaults (rank 128, alpha 512, 10 epochs, lr 1e-4) for the settings left
// out. A job is queued, running, then done, failed or cancelled; when done its adapter is
// registered as "job-{id}".
//
// /profile rates a subset of the built-in survey instrument (Items descriptions per value and
// split, default 1; the values named, all 20 by default) and answers the profile as
// examples/survey writes profile.json.
//
//	curl -s localhost:8080/score -d '{"prompt": "Lily went to the park. She was", "candidates": [" happy", " sad"]}'
//	curl -s localhost:8080/adapters/mine -d '{"dir": "out/finetune"}'
//	curl -s localhost:8080/finetune -d '{"rows": [{"prompt": "Was the day good?", "answer": " Yes"}], "rank": 8, "lr": 0.01, "epochs": 3}'
//	curl -s localhost:8080/jobs/1
//	curl -s -X DELETE localhost:8080/jobs/1
//	curl -s localhost:8080/score -d '{"prompt": "Was the day good?", "candidates": [" Yes", " No"], "adapter": "job-1"}'
//	curl -s localhost:8080/profile -d '{"values": ["Benevolence", "Power"], "splits": ["test"]}'
//
// Scoring and profiles run at most -concurrency requests at once (others wait, up to
// -queue of them; then 503); bodies are limited to -max-body bytes (413). SIGINT or SIGTERM
// stops accepting connections, lets requests in flight finish (up to -shutdown-timeout),
// cancels the fine-tuning jobs and exits. The server has no authentication: keep it on a
// loopback address, and use -adapter-root to confine the directories POST /adapters reads.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/valora-go/valora/examples/internal/cli"
)

func main() {
	cli.Main(func(ctx context.Context, args []string, _, stderr io.Writer) int { return run(ctx, args, stderr) }, syscall.SIGTERM)
}

// run serves until ctx ends, then shuts down gracefully. It returns 0 after a clean shutdown,
// 2 for bad flags and 1 for any other failure.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := cli.NewFlagSet("serve", stderr)
	d := DefaultOptions()
	var ck cli.Checkpoint
	ck.Register(fs, cli.Flags{Model: "testdata/stories260k"})
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT")
	opts := Options{}
	fs.IntVar(&opts.MaxConcurrent, "concurrency", d.MaxConcurrent, "scoring and profile requests computed at once")
	fs.IntVar(&opts.MaxQueue, "queue", d.MaxQueue, "requests that may wait for a computing slot, beyond which 503 (negative: none)")
	fs.Int64Var(&opts.MaxBody, "max-body", d.MaxBody, "largest request body in bytes")
	fs.IntVar(&opts.MaxJobs, "max-jobs", d.MaxJobs, "fine-tuning jobs queued or running")
	fs.DurationVar(&opts.RequestTimeout, "timeout", d.RequestTimeout, "longest computation of one request")
	fs.StringVar(&opts.AdapterRoot, "adapter-root", "", "directory POST /adapters/{name} loads from (default: any)")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long requests in flight may finish at shutdown")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	return cli.Status(stderr, "serve", serve(ctx, stderr, ck.Model, ck.Tokenizer, *addr, *grace, opts))
}

func serve(ctx context.Context, log io.Writer, modelDir, tokDir, addr string, grace time.Duration, opts Options) error {
	b, err := load(modelDir, tokDir)
	if err != nil {
		return err
	}
	defer b.Close()
	h := newServer(b, opts)
	defer h.Close() // after Shutdown: cancels the jobs before the model is closed
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	timeout := h.opts.RequestTimeout
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: timeout + time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	fmt.Fprintf(log, "serve: %s on http://%s\n", modelDir, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(log, "serve: shutting down\n")
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = hs.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
