//! files: an ordinary Rust std program (no crates) that exercises the file system of a
//! preopened directory, args, env and clocks, and prints a report. Every line of the
//! report is deterministic (times are reported only as checks), so a WASI host must
//! print exactly what the reference runtime prints.
//!
//!   usage: files [DIR] [WORDS...]     (DIR defaults to /data; WORDS are echoed)
//!
//! It reads DIR/seed.txt if the host put one there, works inside DIR/files-rs (which it
//! empties first) and leaves its results there.

use std::collections::BTreeMap;
use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn outcome<T>(r: io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => describe(&e),
    }
}

/// The error kind and the raw WASI errno (several errnos share the kind `Uncategorized`).
fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("error {:?} (errno {})", e.kind(), n),
        None => format!("error {:?}", e.kind()),
    }
}

fn kind_of(path: &Path) -> String {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => "dir".to_string(),
        Ok(m) if m.is_file() => format!("file {}", m.len()),
        Ok(_) => "other".to_string(),
        Err(e) => describe(&e),
    }
}

/// Every entry under `dir`, depth first, in name order.
fn tree(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let shown = format!("{}{}", prefix, name);
        out.push(format!("{} {}", shown, kind_of(&path)));
        if path.is_dir() {
            tree(&path, &format!("{}/", shown), out)?;
        }
    }
    Ok(())
}

fn run(root: &Path, words: &[String]) -> io::Result<()> {
    println!("args: {}", words.join(" "));
    let vars: BTreeMap<String, String> = env::vars().filter(|(k, _)| k.starts_with("FILES_")).collect();
    for (k, v) in &vars {
        println!("env {}={}", k, v);
    }

    let started = Instant::now();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    println!("system time after 2020: {}", now.as_secs() > 1_577_836_800);

    // A file the host seeded the directory with, if any.
    match fs::read_to_string(root.join("seed.txt")) {
        Ok(seed) => println!("seed: {} bytes, first line {:?}", seed.len(), seed.lines().next().unwrap_or("")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => println!("seed: none"),
        Err(e) => return Err(e),
    }

    let work = root.join("files-rs");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir(&work)?;
    println!("create_dir again: {}", outcome(fs::create_dir(&work)));
    fs::create_dir_all(work.join("a/b/c"))?;
    println!("create_dir_all a/b/c: {}", kind_of(&work.join("a/b/c")));

    // Write, read back, append.
    let notes = work.join("notes.txt");
    fs::write(&notes, "first line\nsecond line\n")?;
    let mut f = OpenOptions::new().append(true).open(&notes)?;
    writeln!(f, "appended line")?;
    drop(f);
    let text = fs::read_to_string(&notes)?;
    println!("notes: {} bytes, {} lines, last {:?}", text.len(), text.lines().count(), text.lines().last());
    let lines: Vec<String> = BufReader::new(File::open(&notes)?).lines().collect::<io::Result<_>>()?;
    println!("buffered lines: {:?}", lines);

    // create_new refuses an existing file.
    println!(
        "create_new existing: {}",
        outcome(OpenOptions::new().write(true).create_new(true).open(&notes))
    );

    // Seek, overwrite in place, truncate and extend.
    let data = work.join("data.bin");
    let mut f = OpenOptions::new().read(true).write(true).create(true).open(&data)?;
    f.write_all(&(0u8..=255).collect::<Vec<u8>>())?;
    let end = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(16))?;
    f.write_all(b"ABCD")?;
    let at = f.seek(SeekFrom::Current(0))?;
    f.seek(SeekFrom::Start(14))?;
    let mut buf = [0u8; 8];
    f.read_exact(&mut buf)?;
    println!("data: end {} at {} bytes 14..22 {:?}", end, at, buf);
    f.set_len(100)?;
    println!("set_len 100: len {}", f.metadata()?.len());
    f.set_len(300)?;
    let mut all = Vec::new();
    f.seek(SeekFrom::Start(0))?;
    f.read_to_end(&mut all)?;
    let zeros = all[100..].iter().filter(|b| **b == 0).count();
    println!("set_len 300: len {} zeros after 100: {}", all.len(), zeros);
    println!("seek before start: {}", outcome(f.seek(SeekFrom::Current(-1000))));
    drop(f);

    // A larger file written in chunks and checked.
    let big = work.join("a/b/big.bin");
    let mut f = File::create(&big)?;
    let mut sum: u64 = 0;
    for i in 0..64u32 {
        let chunk: Vec<u8> = (0..1024u32).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
        sum = chunk.iter().fold(sum, |s, b| s.wrapping_mul(31).wrapping_add(*b as u64));
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    drop(f);
    let back = fs::read(&big)?;
    let sum_back = back.iter().fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(*b as u64));
    println!("big: {} bytes, checksum matches {}", back.len(), sum == sum_back);

    // Copy, rename (also over an existing file), remove.
    let copied = fs::copy(&notes, work.join("copy.txt"))?;
    println!("copy: {} bytes", copied);
    fs::rename(work.join("copy.txt"), work.join("renamed.txt"))?;
    println!("renamed: old {} new {}", kind_of(&work.join("copy.txt")), kind_of(&work.join("renamed.txt")));
    fs::write(work.join("victim.txt"), "to be replaced")?;
    fs::rename(work.join("renamed.txt"), work.join("victim.txt"))?;
    println!("rename over existing: {}", fs::read_to_string(work.join("victim.txt"))?.len());
    fs::rename(work.join("a/b/c"), work.join("a/moved"))?;
    println!("rename dir: {}", kind_of(&work.join("a/moved")));
    fs::remove_file(work.join("victim.txt"))?;
    println!("remove_file missing: {}", outcome(fs::remove_file(work.join("victim.txt"))));
    println!("remove_dir non-empty: {}", outcome(fs::remove_dir(work.join("a"))));
    println!("read missing: {}", outcome(fs::read(work.join("nope.txt"))));
    println!("read_dir on a file: {}", outcome(fs::read_dir(&notes)));
    println!("open a dir for writing: {}", outcome(OpenOptions::new().write(true).open(work.join("a"))));

    // Metadata.
    let m = fs::metadata(&notes)?;
    println!("metadata notes: file {} dir {} len {}", m.is_file(), m.is_dir(), m.len());
    let m = fs::metadata(work.join("a"))?;
    println!("metadata a: file {} dir {}", m.is_file(), m.is_dir());

    let mut listing = Vec::new();
    tree(&work, "", &mut listing)?;
    println!("tree:");
    for line in &listing {
        println!("  {}", line);
    }

    let elapsed = started.elapsed();
    println!("instant monotonic: {}", Instant::now() >= started && elapsed < Duration::from_secs(60));
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    let root = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("/data"));
    let words = if args.len() > 2 { &args[2..] } else { &[][..] };
    match run(&root, words) {
        Ok(()) => {
            println!("files: done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("files: {}", e);
            ExitCode::from(1)
        }
    }
}
