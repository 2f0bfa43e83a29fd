package org.onnxfuse.fusion.pipeline;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.NeuronSpace;

/**
 * Which levels are fused and which are kept from one parent ({@code --keep-levels},
 * {@code --fuse-levels}; ALGORITHM.md section 3, "Kept levels"). A kept level is not regrouped:
 * its fused neurons are its parent's own, one for one, and its weights are that parent's (copied
 * where the level's inputs are that parent's neurons too, else fitted to that parent's outputs).
 *
 * @param keep levels kept (1-based) and the parent each is kept from; empty: none
 * @param fuse levels fused, every other one kept from parent 0; empty: not given
 */
public record LevelSelection(SortedMap<Integer, Integer> keep, SortedSet<Integer> fuse) {
    /** Every level fused (the default). */
    public static final LevelSelection ALL_FUSED = new LevelSelection(new TreeMap<>(), new TreeSet<>());

    static final String KEEP_SYNTAX = "levels such as 1,3 or 1-2, each optionally from a parent (2:1 keeps level 2"
            + " from parent 1)";
    static final String FUSE_SYNTAX = "levels such as 2,3 or 2-3";

    public LevelSelection {
        keep = Collections.unmodifiableSortedMap(new TreeMap<>(keep));
        fuse = Collections.unmodifiableSortedSet(new TreeSet<>(fuse));
        if (!keep.isEmpty() && !fuse.isEmpty()) {
            throw invalid("level selection (--keep-levels " + keepText(keep) + ", --fuse-levels " + fuseText(fuse)
                    + ")", "one of the two (each keeps what the other fuses)", "both");
        }
        keep.forEach((level, parent) -> {
            if (level < 1) {
                throw invalid("kept level " + level + " (--keep-levels " + keepText(Map.of(level, parent)) + ")",
                        "a level numbered from 1", level);
            }
            if (parent < 0) {
                throw invalid("parent of kept level " + level + " (--keep-levels " + level + ":" + parent + ")",
                        "a parent index from 0 (the template)", parent);
            }
        });
        for (int level : fuse) {
            if (level < 1) {
                throw invalid("fused level " + level + " (--fuse-levels " + level + ")", "a level numbered from 1",
                        level);
            }
        }
    }

    /** Whether every level is fused: neither option given. */
    public boolean fusesAll() {
        return keep.isEmpty() && fuse.isEmpty();
    }

    /**
     * The kept levels of these plans and the parent each is kept from (level to parent, in level
     * order); refuses levels the plans lack, parents that are not given, a neuron space that is
     * partly kept (or kept from two parents), and a level kept from a parent other than 0 whose
     * inputs are not that parent's neurons.
     */
    public SortedMap<Integer, Integer> resolve(List<LevelPlan> plans) {
        LevelPlan template = plans.get(0);
        int count = template.levels().size();
        keep.forEach((level, parent) -> {
            if (level > count) {
                throw invalid("kept level " + level + " (--keep-levels " + keepText(Map.of(level, parent)) + ")",
                        "a level from 1 to " + count, level);
            }
            if (parent >= plans.size()) {
                throw invalid("parent of kept level " + level + " (--keep-levels " + level + ":" + parent + ")",
                        "a parent from 0 to " + (plans.size() - 1), parent);
            }
        });
        for (int level : fuse) {
            if (level > count) {
                throw invalid("fused level " + level + " (--fuse-levels " + level + ")", "a level from 1 to " + count,
                        level);
            }
        }
        SortedMap<Integer, Integer> kept = new TreeMap<>();
        if (!fuse.isEmpty()) {
            for (Level l : template.levels()) {
                if (!fuse.contains(l.index())) {
                    kept.put(l.index(), 0);
                }
            }
        } else {
            kept.putAll(keep);
        }
        String option = fuse.isEmpty() ? "--keep-levels " + keepText(keep) : "--fuse-levels " + fuseText(fuse);
        for (NeuronSpace space : template.spaces()) {
            List<Integer> in = space.levels().stream().filter(kept::containsKey).toList();
            if (!in.isEmpty() && in.size() != space.levels().size()) {
                List<Integer> out = space.levels().stream().filter(l -> !kept.containsKey(l)).toList();
                throw invalid("level selection (" + option + ")", "levels " + list(space.levels())
                        + " kept or fused together, as they share neuron space " + space.id()
                        + " (their neurons are joined)", list(in) + " kept and " + list(out) + " fused");
            }
            if (in.stream().map(kept::get).distinct().count() > 1) {
                throw invalid("level selection (" + option + ")", "levels " + list(space.levels())
                        + " kept from one parent, as they share neuron space " + space.id()
                        + " (their neurons are joined)", in.stream().map(l -> l + ":" + kept.get(l))
                        .collect(Collectors.joining(", ")));
            }
        }
        for (NeuronSpace space : template.spaces()) {
            // an attention's query/key and value heads follow one head order: kept or fused together, from one parent
            List<Integer> heads = space.headOrder().stream().flatMap(s -> template.space(s).levels().stream()).sorted()
                    .toList();
            List<Integer> in = heads.stream().filter(kept::containsKey).toList();
            if (!in.isEmpty() && (in.size() != heads.size() || in.stream().map(kept::get).distinct().count() > 1)) {
                throw invalid("level selection (" + option + ")", "levels " + list(heads) + " kept from one parent or"
                        + " fused together, as they are one attention's heads", in.stream()
                        .map(l -> l + ":" + kept.get(l)).collect(Collectors.joining(", ")) + " kept");
            }
        }
        kept.forEach((level, parent) -> {
            if (parent == 0) {
                return;
            }
            for (int s : template.level(level).binding().spaces()) {
                List<Integer> writers = template.space(s).levels();
                for (int w : writers) {
                    Integer from = kept.get(w);
                    if (from == null || from.intValue() != parent) {
                        throw invalid("parent of kept level " + level + " (--keep-levels " + level + ":" + parent
                                + ")", "level " + level + "'s inputs to be parent " + parent + "'s own neurons"
                                + " (the model input, or levels kept from parent " + parent + " too), as its weights"
                                + " are exact only there; keep from parent 0 instead, which is fitted to fused inputs",
                                "level " + w + (from == null ? " fused" : " kept from parent " + from));
                    }
                }
            }
        });
        return Collections.unmodifiableSortedMap(kept);
    }

    /** {@code --keep-levels}'s text: "1,3", "1-2", "2:1", "1-2:1,4"; blank keeps none. */
    public static LevelSelection parseKeep(String text) {
        SortedMap<Integer, Integer> keep = new TreeMap<>();
        String s = text.strip();
        if (s.isEmpty()) {
            return ALL_FUSED;
        }
        for (String part : s.split(",", -1)) {
            String[] levelsAndParent = part.strip().split(":", -1);
            if (levelsAndParent.length > 2) {
                throw syntax("--keep-levels", text, "'" + part.strip() + "' has more than one ':'", KEEP_SYNTAX);
            }
            int parent = levelsAndParent.length == 2 ? whole(levelsAndParent[1], "--keep-levels", text, KEEP_SYNTAX)
                    : 0;
            for (int level : levels(levelsAndParent[0], "--keep-levels", text, KEEP_SYNTAX)) {
                keep.put(level, parent);
            }
        }
        return new LevelSelection(keep, new TreeSet<>());
    }

    /** {@code --fuse-levels}'s text: "2,3", "2-3"; blank fuses all. */
    public static LevelSelection parseFuse(String text) {
        SortedSet<Integer> fuse = new TreeSet<>();
        String s = text.strip();
        if (s.isEmpty()) {
            return ALL_FUSED;
        }
        for (String part : s.split(",", -1)) {
            fuse.addAll(levels(part, "--fuse-levels", text, FUSE_SYNTAX));
        }
        return new LevelSelection(new TreeMap<>(), fuse);
    }

    /** The two options at once (a command line's), either may be null; both given is refused. */
    public static LevelSelection parse(String keepText, String fuseText) {
        LevelSelection keep = keepText == null ? ALL_FUSED : parseKeep(keepText);
        LevelSelection fuse = fuseText == null ? ALL_FUSED : parseFuse(fuseText);
        return new LevelSelection(keep.keep(), fuse.fuse());
    }

    private static List<Integer> levels(String part, String option, String text, String expected) {
        String p = part.strip();
        int dash = p.indexOf('-', 1);
        if (dash < 0) {
            return List.of(whole(p, option, text, expected));
        }
        int from = whole(p.substring(0, dash), option, text, expected);
        int to = whole(p.substring(dash + 1), option, text, expected);
        if (to < from) {
            throw syntax(option, text, "the range '" + p + "' runs backwards", expected);
        }
        List<Integer> out = new ArrayList<>();
        for (int l = from; l <= to; l++) {
            out.add(l);
        }
        return out;
    }

    private static int whole(String s, String option, String text, String expected) {
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            throw syntax(option, text, "'" + s.strip() + "' is not a whole number", expected);
        }
    }

    private static InvalidSettingException syntax(String option, String text, String why, String expected) {
        return new InvalidSettingException(option + " " + text + ": " + why + "; expected " + expected);
    }

    /** The canonical text of kept levels: "1,3:1" (a parent other than 0 after its level). */
    static String keepText(Map<Integer, Integer> keep) {
        return new TreeMap<>(keep).entrySet().stream()
                .map(e -> e.getValue() == 0 ? e.getKey().toString() : e.getKey() + ":" + e.getValue())
                .collect(Collectors.joining(","));
    }

    static String fuseText(SortedSet<Integer> fuse) {
        return fuse.stream().map(String::valueOf).collect(Collectors.joining(","));
    }

    private static String list(List<Integer> levels) {
        return levels.stream().map(String::valueOf).collect(Collectors.joining(", "));
    }

    private static InvalidSettingException invalid(String setting, String expected, Object found) {
        return new InvalidSettingException(setting + ": expected " + expected + ", found " + found);
    }
}
