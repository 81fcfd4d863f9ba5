package stfile

import "unsafe"

func unsafePointer(v []float32) unsafe.Pointer { return unsafe.Pointer(&v[0]) }
