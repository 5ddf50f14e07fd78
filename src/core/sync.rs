//! Locking that survives a panic elsewhere: what our mutexes guard is valid between
//! statements, so a poisoned lock is taken as it is instead of failing every later call.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
