package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Score two continuations of a prompt over HTTP, as `go run ./examples/serve` serves them.
func Example() {
	b, err := load("../../testdata/stories260k", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	s := newServer(b, Options{})
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()

	resp, err := http.Post(ts.URL+"/score", "application/json", strings.NewReader(
		`{"prompt": "Lily went to the park.", "prefix": " She was", "candidates": [" happy", " sad"]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var out struct {
		Probs map[string]float64 `json:"probs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status)
	fmt.Printf("happy %.2f, sad %.2f\n", out.Probs[" happy"], out.Probs[" sad"])
	// Output:
	// 200 OK
	// happy 0.29, sad 0.71
}
