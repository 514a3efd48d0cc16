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
//! What: the 2 MiB-aligned chunks of the executable's code mapping that a run uses are
//! copied onto anonymous memory backed by transparent huge pages (`MADV_HUGEPAGE`), made
//! read-and-execute only, and moved over the original with `mremap(MREMAP_FIXED)`, which
//! replaces the mapping in one step. The bytes at every address are the same before and
//! after, so code running during the move (this function, the libc wrapper) is unaffected;
//! the zygote has one thread, so nothing else runs meanwhile. `fork` copies anonymous
//! huge-page mappings as one entry per 2 MiB, so a child starts with that code mapped: a few
//! entries to copy and to tear down instead of thousands.
//!
//! Which chunks: a training child (forked before the move, running `return 1`) reports how
//! many pages of each chunk it mapped ([`code_use`]); chunks it used fewer than
//! [`MIN_PAGES_USED`] pages of stay on the file's pages, where their few faults cost less
//! than 2 MiB of the zygote's memory each.
//!
//! Each range is all or nothing: if its copy is not entirely on huge pages (THP set to
//! `never`, no contiguous memory), or any step fails, the copy is unmapped and the range
//! stays as it was. The cost is memory: the zygote holds its own copy of those chunks
//! (shared with its children) instead of sharing the file's page cache with the server.

/// Environment variable of the zygote's command: `0` leaves the text alone (set from the
/// server's `PGMCP_CODE_HUGE_TEXT`, for measurements).
pub(super) const ENV: &str = "PGMCP_ZYGOTE_HUGE_TEXT";

const HUGE: usize = 2 << 20;

/// Whether the code is to be moved at all (`PGMCP_CODE_HUGE_TEXT=0` says no).
pub(super) fn wanted() -> bool {
    std::env::var(ENV).map_or(true, |v| v != "0")
}

/// A chunk of code a run touches fewer pages of than this stays on the file's pages: its
/// faults cost a run little, and a huge page of it would cost the zygote 2 MiB.
const MIN_PAGES_USED: usize = 64;

/// How much of each 2 MiB chunk of the executable's code this process has mapped, as
/// `[chunk start, pages present, …]`. In a training child (which maps no code from its
/// fork: file mappings are not copied) that is the code its run touched, give or take
/// fault-around.
pub(super) fn code_use() -> Vec<usize> {
    use std::os::unix::fs::FileExt;
    let (Ok(mappings), Ok(pagemap)) = (code_mappings(), std::fs::File::open("/proc/self/pagemap"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut entries = vec![0u8; HUGE / 4096 * 8];
    for chunk in mappings.into_iter().flat_map(whole_chunks) {
        if pagemap
            .read_exact_at(&mut entries, (chunk / 4096 * 8) as u64)
            .is_ok()
        {
            let present = entries.chunks_exact(8).filter(|e| e[7] & 0x80 != 0).count();
            out.extend([chunk, present]);
        }
    }
    out
}

/// Moves the executable's code onto huge pages, 2 MiB chunk by chunk; with `used` (from
/// [`code_use`] in a training child), only the chunks a run touches at least
/// [`MIN_PAGES_USED`] pages of. Returns the bytes moved. A range that cannot be moved stays
/// as it was; the first reason is returned when nothing moved.
pub(super) fn remap(used: Option<&[usize]>) -> Result<usize, String> {
    let hot = |chunk: usize| {
        used.is_none_or(|u| {
            u.chunks_exact(2)
                .any(|c| c[0] == chunk && c[1] >= MIN_PAGES_USED)
        })
    };
    // Runs of consecutive chunks to move, each moved in one piece.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for chunk in code_mappings()?.into_iter().flat_map(whole_chunks) {
        if !hot(chunk) {
            continue;
        }
        match runs.last_mut() {
            Some((_, to)) if *to == chunk => *to += HUGE,
            _ => runs.push((chunk, chunk + HUGE)),
        }
    }
    let mut moved = 0;
    let mut why = None;
    for (from, to) in runs {
        match remap_range(from, to) {
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

/// The starts of the 2 MiB-aligned chunks that lie wholly inside `start..end`.
fn whole_chunks((start, end): (usize, usize)) -> impl Iterator<Item = usize> {
    (start.div_ceil(HUGE) * HUGE..end)
        .step_by(HUGE)
        .filter(move |chunk| chunk + HUGE <= end)
}

/// Moves `from..to` (2 MiB-aligned, inside a code mapping) onto huge pages, read and
/// execute only like the original; returns the bytes moved.
fn remap_range(from: usize, to: usize) -> Result<usize, String> {
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
    let here = code_use as fn() -> Vec<usize> as usize;
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
