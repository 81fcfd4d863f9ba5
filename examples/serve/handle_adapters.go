// The adapter routes (GET /adapters, POST and DELETE /adapters/{name}): list, load and delete
// the LoRA adapters the server holds.

package main

import (
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/valora-go/valora/lora"
)

func (s *server) handleListAdapters(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	out := make([]adapterInfo, 0, len(s.adapters))
	for _, name := range slices.Sorted(maps.Keys(s.adapters)) {
		out = append(out, s.adapters[name].info)
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"adapters": out})
}

// adapterName is what a name given to POST /adapters/{name} must look like. Names starting
// with "job-" are reserved for fine-tuning jobs.
var adapterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

type loadAdapterRequest struct {
	Dir string `json:"dir"` // PEFT adapter directory on the server
}

func (s *server) handleLoadAdapter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req loadAdapterRequest
	if err := s.decode(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	switch {
	case !adapterName.MatchString(name):
		fail(w, errorf(http.StatusUnprocessableEntity, "adapter name %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name))
		return
	case strings.HasPrefix(name, jobAdapterPrefix):
		fail(w, errorf(http.StatusUnprocessableEntity, "adapter name %q: names starting with %q are reserved for fine-tuning jobs", name, jobAdapterPrefix))
		return
	case req.Dir == "":
		fail(w, errorf(http.StatusUnprocessableEntity, `"dir" is empty`))
		return
	}
	dir := req.Dir
	if s.opts.AdapterRoot != "" {
		if !filepath.IsLocal(dir) {
			fail(w, errorf(http.StatusUnprocessableEntity, `"dir" %q: want a relative path inside the server's adapter root`, dir))
			return
		}
		dir = filepath.Join(s.opts.AdapterRoot, dir)
	}
	s.mu.RLock()
	_, taken := s.adapters[name]
	s.mu.RUnlock()
	if taken {
		fail(w, errorf(http.StatusConflict, "adapter %q is already loaded", name))
		return
	}
	a, err := lora.Load(dir, s.b.m)
	if err != nil {
		fail(w, errorf(http.StatusUnprocessableEntity, "%v", err))
		return
	}
	info := describe(name, req.Dir, a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.adapters[name]; taken { // loaded by a request that raced this one
		fail(w, errorf(http.StatusConflict, "adapter %q is already loaded", name))
		return
	}
	s.adapters[name] = adapterEntry{a: a, info: info}
	writeJSON(w, http.StatusCreated, info)
}

func (s *server) handleDeleteAdapter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	e, ok := s.adapters[name]
	delete(s.adapters, name)
	s.mu.Unlock()
	if !ok {
		fail(w, errorf(http.StatusNotFound, "no adapter %q", name))
		return
	}
	writeJSON(w, http.StatusOK, e.info)
}

// addJobAdapter registers the adapter a finished job trained.
func (s *server) addJobAdapter(name, source string, a *lora.Adapter) {
	s.mu.Lock()
	s.adapters[name] = adapterEntry{a: a, info: describe(name, source, a)}
	s.mu.Unlock()
}
