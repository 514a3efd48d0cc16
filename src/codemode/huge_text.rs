//! The zygote's machine code on transparent huge pages, so that a forked child neither
//! faults it in nor tears it down page by page.
//!
//! Why: `fork` copies no page-table entries for a file mapping without anonymous pages, so
//! every child faulted the binary's text in again (fault-around maps 16 pages a fault:
//! ~140 faults and ~8 MB of 4 KiB entries for `return 1`), and its exit unmapped each of
//! those entries again, updating the shared pages' reverse maps. Moving the code cut a
//! child's faults 170 → 107 and its CPU per execution by about a fifth (docs/PERFORMANCE.md,
//! "Session 9").
//!
//! What: the 2 MiB-aligned middle of the executable's code mapping is copied onto anonymous
//! memory backed by transparent huge pages (`MADV_HUGEPAGE`), made read-and-execute only,
//! and moved over the original with `mremap(MREMAP_FIXED)`, which replaces the mapping in
//! one step. The bytes at every address are the same before and after, so code running
//! during the move (this function, the libc wrapper) is unaffected; the zygote has one
//! thread, so nothing else runs meanwhile. `fork` copies anonymous huge-page mappings as one
//! entry per 2 MiB, so a child starts with the text mapped: ~10 entries to copy and to tear
//! down instead of thousands. The same technique moves Chromium's text on ChromeOS.
//!
//! It is all or nothing: if the copy is not entirely on huge pages (THP set to `never`, no
//! contiguous memory), or any step fails, the copy is unmapped and the text stays as it
//! was. The cost is memory: the zygote holds its own copy of the text (~20 MB, shared with
//! its children) instead of sharing the file's page cache with the server.

/// Environment variable of the zygote's command: `0` leaves the text alone (set from the
/// server's `PGMCP_CODE_HUGE_TEXT`, for measurements).
pub(super) const ENV: &str = "PGMCP_ZYGOTE_HUGE_TEXT";

const HUGE: usize = 2 << 20;

/// Moves the executable's code mappings onto huge pages; returns the bytes moved. A mapping
/// that cannot be moved stays as it was; the first reason is returned when nothing moved.
pub(super) fn remap() -> Result<usize, String> {
    if std::env::var(ENV).is_ok_and(|v| v == "0") {
        return Ok(0);
    }
    let mut moved = 0;
    let mut why = None;
    for (start, end) in code_mappings()? {
        match remap_range(start, end) {
            Ok(n) => moved += n,
            Err(e) => {
                why.get_or_insert(e);
            }
        }
    }
    match (moved, why) {
        (0, Some(why)) => Err(why),
        _ => Ok(moved),
    }
}

/// Moves the 2 MiB-aligned middle of the code mapping `start..end` onto huge pages, read
/// and execute only like the original; returns the bytes moved.
fn remap_range(start: usize, end: usize) -> Result<usize, String> {
    let from = start.div_ceil(HUGE) * HUGE;
    let to = end / HUGE * HUGE;
    if to <= from {
        return Ok(0);
    }
    let len = to - from;
    // SAFETY: a fresh anonymous mapping, then only our own pages of it are touched; `from`
    // .. `to` lies inside a code mapping of the executable (read above), which is readable.
    unsafe {
        let raw = libc::mmap(
            std::ptr::null_mut(),
            len + HUGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if raw == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        // Trim to a 2 MiB-aligned window: a huge page must be aligned in the address space.
        let raw = raw as usize;
        let copy = raw.div_ceil(HUGE) * HUGE;
        if copy > raw {
            libc::munmap(raw as *mut libc::c_void, copy - raw);
        }
        let tail = raw + len + HUGE - (copy + len);
        if tail > 0 {
            libc::munmap((copy + len) as *mut libc::c_void, tail);
        }
        let undo = |why: String| {
            libc::munmap(copy as *mut libc::c_void, len);
            Err(why)
        };
        if libc::madvise(copy as *mut libc::c_void, len, libc::MADV_HUGEPAGE) != 0 {
            return undo(format!(
                "madvise(MADV_HUGEPAGE): {}",
                std::io::Error::last_os_error()
            ));
        }
        std::ptr::copy_nonoverlapping(from as *const u8, copy as *mut u8, len);
        let huge = anon_huge_bytes(copy);
        if huge < len {
            return undo(format!("only {huge} of {len} bytes landed on huge pages"));
        }
        if libc::mprotect(
            copy as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_EXEC,
        ) != 0
        {
            return undo(format!("mprotect: {}", std::io::Error::last_os_error()));
        }
        let moved = libc::mremap(
            copy as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            from as *mut libc::c_void,
        );
        if moved as usize != from {
            return undo(format!("mremap: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(len)
}

/// The code mappings (private, read and execute) of the file that holds this code (the
/// executable), `(start, end)` each. Its constants (`.rodata`, unwind tables) are left on
/// the file's pages: moving them too cost 4 MB more per zygote, and what it saved was not
/// told apart from the benchmark's noise. Shared libraries are left alone (the static
/// build has none).
fn code_mappings() -> Result<Vec<(usize, usize)>, String> {
    let here = remap as fn() -> Result<usize, String> as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let parse = |line: &str| -> Option<(usize, usize, String, String)> {
        let mut f = line.split_whitespace();
        let (a, b) = f.next()?.split_once('-')?;
        let perms = f.next()?.to_string();
        let path = f.nth(3).unwrap_or("").to_string();
        Some((
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
            perms,
            path,
        ))
    };
    let all: Vec<_> = maps.lines().filter_map(parse).collect();
    let exe = all
        .iter()
        .find(|(a, b, _, _)| (*a..*b).contains(&here))
        .map(|(_, _, _, path)| path.clone())
        .filter(|p| p.starts_with('/'))
        .ok_or("no file mapping holds this code")?;
    Ok(all
        .into_iter()
        .filter(|(_, _, perms, path)| *path == exe && perms == "r-xp")
        .map(|(a, b, _, _)| (a, b))
        .collect())
}

/// `AnonHugePages` of the mapping that starts at `start`, in bytes (0 if unknown).
fn anon_huge_bytes(start: usize) -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let head = format!("{start:x}-");
    let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
    lines.next();
    for l in lines {
        // The next mapping's header: its first field is a range, not a `Key:`.
        if l.split_whitespace()
            .next()
            .is_some_and(|f| !f.ends_with(':'))
        {
            break;
        }
        if let Some(kb) = l.strip_prefix("AnonHugePages:") {
            return kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .map_or(0, |k| k * 1024);
        }
    }
    0
}
