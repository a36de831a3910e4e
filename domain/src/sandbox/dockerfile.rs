//! What a recipe's Dockerfile may say, read with a Dockerfile parser before anything is built. A
//! recipe builds `FROM scratch`, from its own earlier stages, or from a base image the operator
//! allows, pinned by digest (`--recipe-base-images`); it copies from its own context and stages only.
//! So a build never fetches anything (no `ADD` of a URL, no `# syntax=` frontend) and never reads
//! another miner's image (`FROM` or `COPY --from=` another recipe's tag).

use parse_dockerfile::{Instruction, Source};

/// Why the Dockerfile `text` may not be built, naming the line; `allowed_bases` are the operator's
/// `name@sha256:…` references.
pub fn check(text: &str, allowed_bases: &[String]) -> Result<(), String> {
    let dockerfile = parse_dockerfile::parse(text)
        .map_err(|err| format!("the Dockerfile does not parse: {err}"))?;
    let line = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    if let Some(syntax) = &dockerfile.parser_directives.syntax {
        return Err(format!(
            "line {}: a `# syntax=` directive would fetch a build frontend image; leave it out",
            line(syntax.value.span.start)
        ));
    }
    // The stages so far, by name (lower case, as the builder compares them).
    let mut stages: Vec<Option<String>> = Vec::new();
    for instruction in &dockerfile.instructions {
        match instruction {
            Instruction::From(from) => {
                let image = from.image.value.trim();
                let own_stage = stages
                    .iter()
                    .flatten()
                    .any(|name| name.eq_ignore_ascii_case(image));
                let allowed = image.eq_ignore_ascii_case("scratch")
                    || own_stage
                    || allowed_bases.iter().any(|base| base == image);
                if !allowed {
                    return Err(format!(
                        "line {}: FROM {image}: a recipe builds FROM scratch, from its own earlier \
                         stages, or from a base image this platform allows ({})",
                        line(from.image.span.start),
                        allowed_list(allowed_bases)
                    ));
                }
                stages.push(from.as_.as_ref().map(|(_, name)| name.value.to_lowercase()));
            }
            Instruction::Copy(copy) => {
                for flag in &copy.options {
                    if flag.name.value != "from" {
                        continue;
                    }
                    let source = flag.value.as_ref().map_or("", |v| v.value.trim());
                    // The stage in progress is the last one; only those before it can be copied from.
                    let earlier = &stages[..stages.len().saturating_sub(1)];
                    let by_index = source.parse::<usize>().is_ok_and(|i| i < earlier.len());
                    let by_name = earlier
                        .iter()
                        .flatten()
                        .any(|name| name.eq_ignore_ascii_case(source));
                    if !(by_index || by_name) {
                        return Err(format!(
                            "line {}: COPY --from={source}: a recipe copies only from its own \
                             context and its earlier stages",
                            line(flag.name.span.start)
                        ));
                    }
                }
            }
            Instruction::Add(add) => {
                for source in &add.src {
                    if let Source::Path(path) = source
                        && is_remote(&path.value)
                    {
                        return Err(format!(
                            "line {}: ADD {}: a build has no network; put the file in the recipe",
                            line(path.span.start),
                            path.value
                        ));
                    }
                }
            }
            Instruction::Run(run) => {
                for flag in &run.options {
                    let value = flag.value.as_ref().map_or("", |v| v.value.as_ref());
                    let refused = match flag.name.value.as_ref() {
                        "mount" => value
                            .split(',')
                            .any(|part| part.trim().starts_with("from=")),
                        "network" => value.trim() != "none",
                        "security" => true,
                        _ => false,
                    };
                    if refused {
                        return Err(format!(
                            "line {}: RUN --{}={value} reaches outside the recipe; leave it out",
                            line(flag.name.span.start),
                            flag.name.value
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn allowed_list(allowed_bases: &[String]) -> String {
    if allowed_bases.is_empty() {
        "none are configured".into()
    } else {
        allowed_bases.join(", ")
    }
}

/// A source the builder would download rather than read from the context.
fn is_remote(source: &str) -> bool {
    let source = source.trim().to_ascii_lowercase();
    source.contains("://") || source.starts_with("git@")
}

#[cfg(test)]
mod tests {
    use super::check;

    const PINNED: &str =
        "debian@sha256:0000000000000000000000000000000000000000000000000000000000000001";

    fn refused(text: &str) -> String {
        check(text, &[PINNED.to_string()]).unwrap_err()
    }

    #[test]
    fn a_recipe_from_scratch_its_own_stages_or_an_allowed_base_builds() {
        let text = format!(
            "FROM {PINNED} AS tools\nRUN echo hi > /hi\nFROM scratch AS model\nCOPY --from=tools /hi /hi\n\
             COPY --from=0 /hi /again\nCOPY train /train\nADD weights.tar /weights\nENTRYPOINT [\"/train\"]\n"
        );
        check(&text, &[PINNED.to_string()]).unwrap();
        check("FROM scratch\nCOPY . /\n", &[]).unwrap();
    }

    #[test]
    fn another_miners_image_is_refused_as_a_base_or_a_source() {
        let why = refused("FROM crucible-recipe:0190aa00-0000-7000-8000-000000000000\n");
        assert!(
            why.contains("line 1") && why.contains("FROM crucible-recipe"),
            "{why}"
        );
        let why = refused("FROM scratch\nCOPY --from=crucible-recipe:abc /train /train\n");
        assert!(
            why.contains("line 2") && why.contains("COPY --from=crucible-recipe:abc"),
            "{why}"
        );
        // A stage may not copy from itself or from a stage not yet built.
        let why = refused("FROM scratch AS a\nCOPY --from=a /x /x\n");
        assert!(why.contains("COPY --from=a"), "{why}");
        let why = refused("FROM scratch\nCOPY --from=1 /x /x\nFROM scratch\n");
        assert!(why.contains("COPY --from=1"), "{why}");
        // The allowlist is exact: the same name unpinned, or with another digest, is refused.
        assert!(refused("FROM debian\n").contains("FROM debian"));
        assert!(
            refused("FROM debian:latest\n").contains(PINNED),
            "the refusal lists what is allowed"
        );
        assert!(refused("ARG BASE=scratch\nFROM ${BASE}\n").contains("FROM ${BASE}"));
    }

    #[test]
    fn nothing_is_fetched_during_a_build() {
        let why = refused("FROM scratch\nADD https://example.org/weights.bin /w\n");
        assert!(
            why.contains("line 2") && why.contains("ADD https://example.org"),
            "{why}"
        );
        assert!(refused("FROM scratch\nADD git@github.com:a/b.git /src\n").contains("ADD git@"));
        let why = refused("# syntax=docker/dockerfile:1\nFROM scratch\n");
        assert!(why.contains("syntax"), "{why}");
        let why =
            refused("FROM scratch\nRUN --mount=type=bind,from=crucible-recipe:x,target=/m ls\n");
        assert!(why.contains("RUN --mount"), "{why}");
        assert!(refused("FROM scratch\nRUN --network=host true\n").contains("--network=host"));
    }

    #[test]
    fn a_file_that_is_not_a_dockerfile_says_so() {
        assert!(refused("this is not a Dockerfile\n").contains("does not parse"));
    }
}
