//go:build !unix

package stfile

import (
	"fmt"
	"os"
)

// mapFile reads the whole file where memory mapping is not implemented.
func mapFile(path string) ([]byte, func() error, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, statErr(path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file (mode %s)", path, st.Mode())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, statErr(path, err)
	}
	return data, func() error { return nil }, nil
}
