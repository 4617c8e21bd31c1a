# Reference optima for tests/test_optimizer.py, made with lme4 1.1-31 and nlme 3.1-162 (Debian
# r-cran-lme4, r-cran-nlme) by
#   Rscript tests/reference/lme4_optimum.R      (from the repository root)
# It writes the data of each case to tests/reference/data/optimum_<data>.csv (so that the tests
# need neither R nor nlme) and lme4's optimum to tests/reference/lme4_optimum.json.
# The models have random slopes whose fits end on, or near, the boundary of the parameter
# space (a variance 0, a correlation +-1), where one run of a local optimizer can stop at a
# corner that is not the minimum. Each is fitted by ML and REML with lme4's defaults
# (lmer -> nloptwrap, BOBYQA, xtol_abs = ftol_abs = 1e-8); `objective` is deviance(fit) (ML) or
# REMLcrit(fit) (REML), and `lme4_messages` holds lme4's own convergence messages.
suppressMessages({library(lme4); library(nlme); library(jsonlite)})

as_plain <- function(frame, group) {   # a plain data.frame, the grouping factor as text labels
  frame <- as.data.frame(frame); frame[[group]] <- as.character(frame[[group]]); frame
}
data_sets <- list(
  # Loblolly pine heights (datasets::Loblolly): 14 seed sources, ages 3 to 25 years
  loblolly = as_plain(datasets::Loblolly, "Seed")[, c("height", "age", "Seed")],
  # Orange tree circumferences (datasets::Orange): 5 trees, age in days (a badly scaled slope)
  orange = as_plain(datasets::Orange, "Tree")[, c("circumference", "age", "Tree")],
  # IGF-I radioimmunoassay tracer (nlme::IGF): 10 lots, age in days
  igf = as_plain(nlme::IGF, "Lot")[, c("conc", "age", "Lot")],
  # Oats split plot (nlme::Oats): yield against nitrogen, 6 blocks
  oats = as_plain(nlme::Oats, "Block")[, c("yield", "nitro", "Variety", "Block")],
  # CO2 uptake of grass plants (datasets::CO2), log of the ambient concentration as covariate
  co2 = transform(as_plain(datasets::CO2, "Plant")[, c("uptake", "conc", "Plant")],
                  log_conc = log(conc)),
  # Orthodontic distances of the 11 girls (nlme::Orthodont, Sex == "Female")
  orthodont_female = as_plain(subset(nlme::Orthodont, Sex == "Female"),
                              "Subject")[, c("distance", "age", "Subject")],
  # sleepstudy (lme4): the first five subjects, days 0 to 4
  sleep_subset = droplevels(subset(lme4::sleepstudy, Subject %in% levels(Subject)[1:5] & Days <= 4)),
  # simulated: 12 groups of 6, slope = 0.8 x intercept + small noise (correlation near +1)
  simulated = local({
    set.seed(1)
    J <- 12; n_j <- 6
    g <- sprintf("g%02d", rep(1:J, each = n_j)); x <- rep(seq(0, 1, length.out = n_j), J)
    b0 <- rnorm(J); b1 <- 0.8 * b0 + rnorm(J, sd = 0.05); j <- rep(1:J, each = n_j)
    data.frame(y = 1 + x + b0[j] + b1[j] * x + rnorm(J * n_j, sd = 0.5), x = x, g = g)
  })
)
data_sets$sleep_subset$Subject <- as.character(data_sets$sleep_subset$Subject)

cases <- list(
  list(name = "loblolly", data = "loblolly", formula = "height ~ age + (age | Seed)"),
  list(name = "orange", data = "orange", formula = "circumference ~ age + (age | Tree)"),
  list(name = "igf", data = "igf", formula = "conc ~ age + (age | Lot)"),
  list(name = "oats_nitro", data = "oats", formula = "yield ~ nitro + (nitro | Block)"),
  list(name = "co2_log_conc", data = "co2", formula = "uptake ~ log_conc + (log_conc | Plant)"),
  list(name = "orthodont_female", data = "orthodont_female",
       formula = "distance ~ age + (age | Subject)"),
  list(name = "sleep_subset", data = "sleep_subset", formula = "Reaction ~ Days + (Days | Subject)"),
  list(name = "simulated", data = "simulated", formula = "y ~ x + (x | g)")
)

one_fit <- function(case, reml) {
  fit <- suppressMessages(suppressWarnings(
    lmer(as.formula(case$formula), data = data_sets[[case$data]], REML = reml)))
  list(objective = if (reml) REMLcrit(fit) else deviance(fit), theta = unname(getME(fit, "theta")),
       singular = isSingular(fit), lme4_messages = as.list(fit@optinfo$conv$lme4$messages))
}
for (name in names(data_sets))
  write.csv(data_sets[[name]], file.path("tests", "reference", "data", paste0("optimum_", name, ".csv")),
            row.names = FALSE)
out <- lapply(cases, function(case) c(case, list(
  csv = paste0("data/optimum_", case$data, ".csv"),
  r_call = sprintf("lmer(%s, data = %s, REML = <FALSE|TRUE>)", case$formula, case$data),
  ML = one_fit(case, FALSE), REML = one_fit(case, TRUE))))
writeLines(toJSON(list(lme4_version = as.character(packageVersion("lme4")), cases = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "lme4_optimum.json"))
