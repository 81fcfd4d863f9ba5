//go:build !unix

package train

// Elsewhere (Windows) there is no O_NOFOLLOW: opens follow links there.
const (
	noFollow = 0
	noBlock  = 0
)
