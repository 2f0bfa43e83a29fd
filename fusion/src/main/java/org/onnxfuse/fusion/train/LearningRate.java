package org.onnxfuse.fusion.train;

import java.util.Locale;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;

/**
 * A learning rate: a fixed number, or {@link #AUTO}, chosen per segment by a range test on its
 * training split ({@link LearningRateRangeTest}).
 *
 * @param auto  whether it is chosen per segment
 * @param value the rate when fixed; NaN when auto
 */
public record LearningRate(boolean auto, double value) {
    public static final LearningRate AUTO = new LearningRate(true, Double.NaN);

    public LearningRate {
        if (auto && !Double.isNaN(value)) {
            throw new IllegalArgumentException("an automatic learning rate has no value, found " + value);
        }
        if (!auto && (!(value > 0) || Double.isInfinite(value))) {
            throw new InvalidSettingException("learning rate (--lr): expected auto or a finite number above 0, found "
                    + value);
        }
    }

    public static LearningRate fixed(double value) {
        return new LearningRate(false, value);
    }

    /** {@code --lr}'s text: "auto" or a number such as 1e-3. */
    public static LearningRate parse(String text) {
        String s = text.strip().toLowerCase(Locale.ROOT);
        if (s.equals("auto")) {
            return AUTO;
        }
        try {
            return fixed(Double.parseDouble(s));
        } catch (NumberFormatException e) {
            throw new InvalidSettingException("learning rate (--lr): expected auto or a finite number above 0, found '"
                    + text + "'");
        }
    }

    @Override
    public String toString() {
        return auto ? "auto" : Double.toString(value);
    }
}
