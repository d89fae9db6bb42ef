//go:build unix

package main

import "syscall"

// privateUmask makes everything the process creates private to its user
// (at most 0700 for directories, 0600 for files), including what libraries
// create with modes of their own: distribution's filesystem driver asks for
// 0777 and 0666 and leaves the rest to the umask.
func privateUmask() { syscall.Umask(0o077) }
