using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Activations.Coordinator.Store.Configurations;

sealed class ResultVectorRecordConfiguration : IEntityTypeConfiguration<ResultVectorRecord>
{
    public void Configure(EntityTypeBuilder<ResultVectorRecord> vector)
    {
        vector.ToTable("result_vectors");
        vector.HasKey(v => new { v.JobId, v.QuestionIndex, v.Hook });
        vector.Property(v => v.JobId).HasColumnName("job_id");
        vector.Property(v => v.QuestionIndex).HasColumnName("question_index");
        vector.Property(v => v.Hook).HasColumnName("hook").HasMaxLength(64);
        vector.Property(v => v.Values).HasColumnName("vector");
        vector.HasOne<QuestionResultRecord>().WithMany().HasForeignKey(v => new { v.JobId, v.QuestionIndex }).OnDelete(DeleteBehavior.Cascade);
    }
}
