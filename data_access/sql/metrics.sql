SELECT metric, unit, label_fr, label_en, valid_min, valid_max, warn_low, warn_high, crit_low, crit_high
  FROM metrics
 ORDER BY metric
