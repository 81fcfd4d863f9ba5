//go:build unix

package stfile

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the whole file privately (copy-on-write): reads come from the page cache,
// writes (an in-place adapter merge) copy only the touched pages and never reach the file.
// With ReadIntoMemory set (or VALORA_NO_MMAP=1) the file is read into memory instead.
//
// Only regular files are opened: the path is checked with Stat first (symbolic links, as in
// the Hugging Face cache, are followed), then opened with O_NONBLOCK (a FIFO swapped in between
// cannot block the open) and checked again with fstat.
func mapFile(path string) ([]byte, func() error, error) {
	if err := statRegular(path); err != nil {
		return nil, nil, err
	}
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, statErr(path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	fh := os.NewFile(uintptr(fd), path)
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("%s: %d bytes do not fit in memory", path, size)
	}
	if readIntoMemory() {
		data := make([]byte, size)
		if _, err := fh.ReadAt(data, 0); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		return data, func() error { return nil }, nil
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
