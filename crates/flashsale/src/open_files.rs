//! The open-file limit. Every buyer is a socket: a stampede, or a fair
//! start's draw where every buyer waits on an open request, needs tens of
//! thousands at once, while many systems start processes with a soft limit
//! of 1,024 (the hard limit is usually far higher). Like Go's runtime, the
//! engine raises its soft limit to the hard one at start-up: what the
//! operator allowed, no more.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the limit in
/// force afterwards (`None` where it cannot be read).
pub fn raise_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let now = super::raise_limit().expect("the limit reads");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        assert_eq!((now, limit.rlim_cur), (limit.rlim_max, limit.rlim_max));
    }
}
