//go:build unix

package train

import "syscall"

// noFollow makes an open fail on a symbolic link; noBlock keeps an open of a FIFO from blocking.
const (
	noFollow = syscall.O_NOFOLLOW
	noBlock  = syscall.O_NONBLOCK
)
