//go:build !unix

package stfile

import "os"

// mapFile reads the whole file where memory mapping is not implemented.
func mapFile(path string) ([]byte, func() error, error) {
	if err := statRegular(path); err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, statErr(path, err)
	}
	return data, func() error { return nil }, nil
}
